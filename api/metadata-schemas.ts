/** JSON Schemas of the metadata routes (they validate requests, shape responses and document the OpenAPI). */

/** `lang=`: the labels' language (checked against the release's languages by the route: 400 UNKNOWN_LANGUAGE). */
export const langProperty = {
  type: 'string',
  minLength: 1,
  maxLength: 35,
  description:
    "Language of the labels (a language tag the release's policy declares, e.g. en or fr); default: the policy's first language",
} as const;

export const langQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { lang: langProperty },
} as const;

const codelist = {
  type: 'object',
  required: ['id', 'label', 'type', 'tables', 'values'],
  properties: {
    id: { type: 'string', description: 'The dimension name (the query parameter of the data route)' },
    label: { type: 'string' },
    type: { type: 'string', enum: ['Valueset'] },
    tables: { type: 'array', items: { type: 'string' }, description: 'Tables with this dimension' },
    values: {
      type: 'array',
      items: {
        type: 'object',
        required: ['code', 'label', 'parent', 'order', 'level', 'leaf'],
        properties: {
          code: { type: 'string' },
          label: { type: 'string' },
          parent: { type: ['string', 'null'], description: 'Code of the parent in the hierarchy; null for the root' },
          order: { type: 'integer', description: 'Position in the data (JSON-stat index order)' },
          level: { type: 'integer', description: 'Depth in the hierarchy: 0 for the total' },
          leaf: { type: 'boolean', description: 'A declared category (not an aggregate)' },
        },
      },
    },
  },
} as const;

export const codelistsSchema = {
  type: 'object',
  required: ['release', 'language', 'languages', 'codelists'],
  properties: {
    dataset: { type: 'string' },
    release: { type: 'string' },
    language: { type: 'string' },
    languages: { type: 'array', items: { type: 'string' } },
    codelists: { type: 'array', items: codelist },
  },
} as const;

const open = { type: 'object', additionalProperties: true } as const;

export const tableMetadataSchema = {
  type: 'object',
  required: [
    'release',
    'table',
    'title',
    'language',
    'languages',
    'status',
    'dimensions',
    'measures',
    'unit',
    'notes',
    'methods',
    'contact',
    'dates',
    'links',
  ],
  properties: {
    release: { type: 'string' },
    table: { type: 'string' },
    title: { type: 'string' },
    description: { type: 'string' },
    language: { type: 'string' },
    languages: { type: 'array', items: { type: 'string' } },
    status: { type: 'string', enum: ['draft', 'published', 'withdrawn'] },
    dimensions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'label', 'codes', 'leaves', 'levels', 'total'],
        properties: {
          name: { type: 'string' },
          label: { type: 'string' },
          codes: { type: 'integer', description: 'Codes of the dimension, aggregates included' },
          leaves: { type: 'integer', description: 'Declared categories' },
          levels: { type: 'integer', description: 'Hierarchy levels, the total included' },
          total: { type: ['string', 'null'], description: 'Code of the total, or null when the table has none' },
        },
      },
    },
    measures: { type: 'array', items: open },
    unit: {
      type: 'object',
      description: 'The protected unit (what a count counts)',
      properties: { kind: { type: 'string' }, maxRowsPerUnit: { type: 'integer' } },
    },
    cells: { type: 'integer' },
    suppressed: { type: 'integer' },
    notes: { type: 'array', items: { type: 'string' } },
    methods: {
      type: 'object',
      required: ['regime', 'guarantee', 'methods'],
      properties: {
        regime: { type: 'string', enum: ['sdc', 'dp', 'ckm'] },
        guarantee: { type: 'string' },
        methods: { type: 'array', items: { type: 'string' } },
        randomness: { type: 'string', enum: ['crypto', 'seeded'] },
        privacy: { type: ['object', 'null'], additionalProperties: true },
      },
    },
    contact: { type: ['string', 'null'] },
    dates: {
      type: 'object',
      properties: {
        created: { type: 'string', format: 'date-time' },
        published: { type: ['string', 'null'], format: 'date-time' },
        expires: { type: ['string', 'null'], description: 'Served through this date (UTC)' },
        withdrawn: { type: ['string', 'null'], format: 'date-time' },
        withdrawReason: { type: ['string', 'null'] },
      },
    },
    links: {
      type: 'object',
      properties: { data: { type: 'string' }, codelists: { type: 'string' }, structure: { type: 'string' } },
    },
  },
} as const;
