/**
 * The SDMX structure of a protected table as an SDMX-JSON 2.0 structure message (SDMX 3.0 information model): one
 * dataflow, its data structure definition (DSD) and the codelists of its dimensions and status attributes.
 *
 * What a reader of the table's SDMX-CSV needs to interpret every column: the dataflow is the one SDMX-CSV names in
 * STRUCTURE_ID (`STATGUARD:<TABLE>(1.0)`, `sdmxFlowId`); one dimension per table dimension (id: the upper-cased
 * dimension name, as in the SDMX-CSV header), coded by a codelist holding every node of the dimension (leaves,
 * hierarchy levels, the total `_T`) with its parent; the measure OBS_VALUE; the observation attributes OBS_STATUS and
 * CONF_STATUS (codelists of the status codes statguard uses, with their legends) and the optional accuracy
 * attributes NOISE_SD and HALF_WIDTH_95 (the 95% accuracy half-width; empty for cells without noise), so that every
 * column of the SDMX-CSV is a component of the DSD. A declared unit of measure adds UNIT_MEASURE, an optional attribute
 * attached to the dataflow (one value for the whole table, so no SDMX-CSV column), coded by a one-code codelist
 * `CL_<FLOW>_UNIT_MEASURE` whose code is the unit in the default language, upper-cased to an SDMX id.
 *
 * Guarantee: structure only. Nothing here reads a cell, so no value (published or suppressed) can appear in it.
 * Names follow the requested language (`name`) and list every language of the release (`names`).
 */
import type { ConfStatus, ObsStatus } from '../types.ts';
import { CONF_STATUS_LEGEND, OBS_STATUS_LEGEND } from './legend.ts';

/** Labels per language: every language of the release. */
export type Names = Readonly<Record<string, string>>;

export interface StructureNode {
  readonly code: string;
  readonly names: Names;
  /** Index of the parent node in the same list, or null. */
  readonly parent: number | null;
}

export interface StructureDimension {
  readonly name: string;
  readonly names: Names;
  readonly nodes: readonly StructureNode[];
}

export interface StructureInput {
  readonly tableId: string;
  readonly names: Names;
  readonly description?: string;
  readonly dimensions: readonly StructureDimension[];
  /** Measure kind: counts are integers, other measures decimals. */
  readonly measure: string;
  /** The declared unit of measure per language (policy `measure.unit`), if any: the UNIT_MEASURE attribute. */
  readonly unit?: Names;
  /** Languages of the release, the default first; `lang` (one of them) names `name` fields. */
  readonly languages: readonly string[];
  readonly lang: string;
  /** When the message is prepared (ISO date-time). */
  readonly prepared: string;
  readonly agency?: string;
}

export const SDMX_AGENCY = 'STATGUARD';
export const SDMX_VERSION = '1.0';
export const SDMX_JSON_STRUCTURE_SCHEMA =
  'https://raw.githubusercontent.com/sdmx-twg/sdmx-json/master/structure-message/tools/schemas/2.0.0/sdmx-json-structure-schema.json';

/** The SDMX id of a table's dataflow (as in the table's SDMX-CSV STRUCTURE_ID, engine/release/formats.ts). */
export function sdmxFlowId(tableId: string): string {
  return tableId.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

/** The STRUCTURE_ID an SDMX-CSV file of the table carries: `<agency>:<flow>(<version>)`. */
export function sdmxStructureRef(tableId: string, agency = SDMX_AGENCY): string {
  return `${agency}:${sdmxFlowId(tableId)}(${SDMX_VERSION})`;
}

const urn = (cls: string, agency: string, id: string, item?: string): string =>
  `urn:sdmx:org.sdmx.infomodel.${cls}=${agency}:${id}(${SDMX_VERSION})${item !== undefined ? `.${item}` : ''}`;

function named(names: Names, lang: string): { name: string; names: Names } {
  return { name: names[lang] ?? Object.values(names)[0] ?? '', names: { ...names } };
}

/** The same text in every language (legends and fixed names are English only; SDMX falls back to it). */
function en(text: string): Names {
  return { en: text };
}

function codelist(
  agency: string,
  id: string,
  names: Names,
  lang: string,
  codes: readonly { id: string; names: Names; parent?: string }[],
) {
  return {
    id,
    agencyID: agency,
    version: SDMX_VERSION,
    ...named(names, lang),
    isPartial: false,
    codes: codes.map((c) => ({ id: c.id, ...named(c.names, lang), ...(c.parent ? { parent: c.parent } : {}) })),
  };
}

/** The UNIT_MEASURE code: the unit in the default language as an SDMX id (letters, digits, _; e.g. USD, PERSONS). */
export function unitCode(unit: Names, languages: readonly string[]): string {
  const text = unit[languages[0]!] ?? Object.values(unit)[0] ?? '';
  const id = text
    .toUpperCase()
    .replace(/[^A-Z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /^[A-Z]/.test(id) ? id : `U_${id}`;
}

/** UNIT_MEASURE, when the table declares a unit: the attribute (on the dataflow), its concept and its codelist. */
function unitComponents(
  input: StructureInput,
  agency: string,
  flow: string,
  concept: (id: string) => string,
  enumeration: (id: string) => { enumeration: string },
) {
  const unit = input.unit;
  if (!unit) return { attributes: [], concepts: [], codelists: [] };
  const id = `CL_${flow}_UNIT_MEASURE`;
  return {
    attributes: [
      {
        id: 'UNIT_MEASURE',
        conceptIdentity: concept('UNIT_MEASURE'),
        usage: 'optional',
        attributeRelationship: { dataflow: {} },
        localRepresentation: enumeration(id),
      },
    ],
    concepts: [{ id: 'UNIT_MEASURE', ...named(en('Unit of measure'), 'en') }],
    codelists: [
      codelist(agency, id, en('Unit of measure'), input.lang, [{ id: unitCode(unit, input.languages), names: unit }]),
    ],
  };
}

/** The SDMX-JSON 2.0 structure message of one table (see the header). */
export function toSdmxStructure(input: StructureInput): Record<string, unknown> {
  const agency = input.agency ?? SDMX_AGENCY;
  const { lang } = input;
  const flow = sdmxFlowId(input.tableId);
  const dsd = `DSD_${flow}`;
  const cs = `CS_${flow}`;
  const dimCodelist = (d: StructureDimension) => `CL_${flow}_${d.name.toUpperCase()}`;
  const concept = (id: string) => urn('conceptscheme.Concept', agency, cs, id);
  const enumeration = (id: string) => ({ enumeration: urn('codelist.Codelist', agency, id) });
  const statusAttr = (id: string, cl: string) => ({
    id,
    conceptIdentity: concept(id),
    usage: 'mandatory',
    attributeRelationship: { observation: {} },
    measureRelationship: ['OBS_VALUE'],
    localRepresentation: enumeration(cl),
  });
  const accuracyAttr = (id: string) => ({
    id,
    conceptIdentity: concept(id),
    usage: 'optional',
    attributeRelationship: { observation: {} },
    measureRelationship: ['OBS_VALUE'],
    localRepresentation: { format: { dataType: 'Double' } },
  });
  const accuracy = ['NOISE_SD', 'HALF_WIDTH_95'];
  const unit = unitComponents(input, agency, flow, concept, enumeration);
  const conceptNames: Record<string, Names> = {
    OBS_VALUE: en('Observation value'),
    OBS_STATUS: en('Observation status'),
    CONF_STATUS: en('Confidentiality status'),
    NOISE_SD: en('Standard deviation of the noise added (differential privacy)'),
    HALF_WIDTH_95: en('Half-width of the 95% accuracy interval of the noisy value'),
  };
  return {
    meta: {
      schema: SDMX_JSON_STRUCTURE_SCHEMA,
      id: `STRUCTURE_${flow}`,
      test: false,
      prepared: input.prepared,
      contentLanguages: [lang, ...input.languages.filter((l) => l !== lang)],
      sender: { id: agency },
    },
    data: {
      dataflows: [
        {
          id: flow,
          agencyID: agency,
          version: SDMX_VERSION,
          ...named(input.names, lang),
          ...(input.description ? { description: input.description } : {}),
          structure: urn('datastructure.DataStructure', agency, dsd),
        },
      ],
      dataStructures: [
        {
          id: dsd,
          agencyID: agency,
          version: SDMX_VERSION,
          ...named(input.names, lang),
          dataStructureComponents: {
            dimensionList: {
              id: 'DimensionDescriptor',
              dimensions: input.dimensions.map((d, position) => ({
                id: d.name.toUpperCase(),
                position,
                conceptIdentity: concept(d.name.toUpperCase()),
                localRepresentation: enumeration(dimCodelist(d)),
              })),
            },
            measureList: {
              id: 'MeasureDescriptor',
              measures: [
                {
                  id: 'OBS_VALUE',
                  conceptIdentity: concept('OBS_VALUE'),
                  usage: 'optional',
                  localRepresentation: { format: { dataType: input.measure === 'count' ? 'Integer' : 'Double' } },
                },
              ],
            },
            attributeList: {
              id: 'AttributeDescriptor',
              attributes: [
                statusAttr('OBS_STATUS', 'CL_OBS_STATUS'),
                statusAttr('CONF_STATUS', 'CL_CONF_STATUS'),
                ...accuracy.map(accuracyAttr),
                ...unit.attributes,
              ],
            },
          },
        },
      ],
      conceptSchemes: [
        {
          id: cs,
          agencyID: agency,
          version: SDMX_VERSION,
          ...named(input.names, lang),
          isPartial: false,
          concepts: [
            ...input.dimensions.map((d) => ({ id: d.name.toUpperCase(), ...named(d.names, lang) })),
            ...['OBS_VALUE', 'OBS_STATUS', 'CONF_STATUS', ...accuracy].map((id) => ({
              id,
              ...named(conceptNames[id]!, 'en'),
            })),
            ...unit.concepts,
          ],
        },
      ],
      codelists: [
        ...input.dimensions.map((d) =>
          codelist(
            agency,
            dimCodelist(d),
            d.names,
            lang,
            d.nodes.map((n) => ({
              id: n.code,
              names: n.names,
              ...(n.parent !== null ? { parent: d.nodes[n.parent]!.code } : {}),
            })),
          ),
        ),
        codelist(
          agency,
          'CL_OBS_STATUS',
          en('Observation status'),
          'en',
          (Object.keys(OBS_STATUS_LEGEND) as ObsStatus[]).map((c) => ({ id: c, names: en(OBS_STATUS_LEGEND[c]) })),
        ),
        codelist(
          agency,
          'CL_CONF_STATUS',
          en('Confidentiality status'),
          'en',
          (Object.keys(CONF_STATUS_LEGEND) as ConfStatus[]).map((c) => ({ id: c, names: en(CONF_STATUS_LEGEND[c]) })),
        ),
        ...unit.codelists,
      ],
    },
  };
}
