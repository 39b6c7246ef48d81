/**
 * Metadata routes against the fixture releases (seedReleases): codelists, table metadata, SDMX structure and the
 * DCAT-AP catalogue; the same access rules as the data (a restricted release is 404 for whoever may not read it, a
 * bad key 401), an audit row per request, and nothing of a suppressed cell anywhere.
 */
import t from 'tap';
import { build } from '../../api/app.ts';
import { FORMATS } from '../../api/query.ts';
import type { Actor } from '../../api/store/audit.ts';
import { createKey } from '../../api/store/keys.ts';
import { loadReleaseDir } from '../../api/store/release-dir.ts';
import { approveRelease, createContract, storeDraft } from '../../api/store/releases.ts';
import { xlsxSheets } from '../release/read-back.ts';
import { FIXTURE_THEME, FRENCH, makeRelease, SECRET, seedReleases } from './fixtures.ts';
import { openPgliteStore } from './pglite-template.ts';

const system: Actor = { caller: 'cli:test', role: 'officer' };

const store = await openPgliteStore();
t.teardown(() => store.close());
const db = store.db;
const { pub, restricted, draft, gone } = await seedReleases(db, system, 'a coding error');
const researcher = await createKey(db, 'researcher', 'Rex', system);
const other = (await createKey(db, 'researcher', 'Nora', system)).key;
const officer = (await createKey(db, 'officer', 'Olga', system)).key;
await createContract(
  db,
  {
    keyId: researcher.id,
    releaseId: restricted,
    tables: null,
    expiresAt: new Date(Date.now() + 86400e3).toISOString(),
  },
  system,
);
// A release with labels in English and French (dataset `shared`, dp), its table's unit of measure declared.
const multi = (
  await storeDraft(
    db,
    await loadReleaseDir(
      (
        await makeRelease({
          policyId: 'multi',
          datasetId: 'shared',
          rho: 0.5,
          multilingual: true,
          unit: { en: 'residents', fr: 'résidents' },
        })
      ).dir,
    ),
    system,
  )
).id;
await approveRelease(db, multi, system);
const app = await build({ store, logger: false, config: { rateLimit: null } });
t.teardown(() => app.close());
const get = (url: string, key?: string) => app.inject({ url, headers: key ? { authorization: `Bearer ${key}` } : {} });
const json = (r: { body: string }) => JSON.parse(r.body);

type Value = { code: string; label: string; parent: string | null; order: number; level: number; leaf: boolean };

t.test('codelists of a release and of a table (PxWeb style)', async (t) => {
  const r = await get(`/v1/releases/${pub}/codelists`);
  t.equal(r.statusCode, 200);
  const b = json(r);
  t.equal(b.release, pub);
  t.equal(b.language, 'en');
  t.same(b.languages, ['en']);
  t.same(
    b.codelists.map((c: { id: string }) => c.id),
    ['region', 'sex'],
  );
  const region = b.codelists[0];
  t.equal(region.label, 'Region');
  t.same(region.tables, ['pop']);
  t.same(
    region.values.map((v: Value) => [v.code, v.label, v.parent, v.order, v.level, v.leaf]),
    [
      ['N1', 'North, one', 'N', 0, 2, true],
      ['N2', 'North two', 'N', 1, 2, true],
      ['S1', 'South', '_T', 2, 1, true],
      ['N', 'North', '_T', 3, 1, false],
      ['_T', 'Total', null, 4, 0, false],
    ],
  );
  const one = json(await get(`/v1/releases/${pub}/codelists/sex`));
  t.same(one.codelists, [b.codelists[1]], 'one codelist by its id');
  const none = await get(`/v1/releases/${pub}/codelists/age`);
  t.equal(none.statusCode, 404);
  t.equal(json(none).code, 'CODELIST_NOT_FOUND');
  t.match(json(none).detail, /its codelists are region, sex/);
  const tr = json(await get(`/v1/releases/${pub}/tables/pop/codelists`));
  t.same(tr.codelists, b.codelists, 'one table: the same lists');
  // Codes are exactly those of the data (order included).
  const data = json(await get(`/v1/releases/${pub}/tables/pop`));
  t.same(
    data.dimensions.map((d: { codes: string[] }) => d.codes),
    b.codelists.map((c: { values: Value[] }) => c.values.map((v) => v.code)),
  );
  const ds = json(await get('/v1/datasets/census/codelists'));
  t.equal(ds.dataset, 'census');
  t.equal(ds.release, pub, 'the newest visible release of the dataset');
  t.equal((await get('/v1/datasets/nothing-here/codelists')).statusCode, 404);
});

t.test('table metadata', async (t) => {
  const r = await get(`/v1/releases/${pub}/tables/pop/metadata`);
  t.equal(r.statusCode, 200);
  const m = json(r);
  t.equal(m.title, 'Population');
  t.equal(m.description, 'Persons by region and sex');
  t.equal(m.status, 'published');
  t.same(m.dimensions, [
    { name: 'region', label: 'Region', codes: 5, leaves: 3, levels: 3, total: '_T' },
    { name: 'sex', label: 'Sex', codes: 3, leaves: 2, levels: 2, total: '_T' },
  ]);
  t.equal(m.measures[0].id, 'OBS_VALUE');
  t.equal(m.measures[0].kind, 'count');
  t.equal(m.measures[0].unit, 'persons');
  t.equal(m.methods.regime, 'dp');
  t.equal(m.methods.guarantee, 'zCDP');
  t.same(m.methods.methods, ['test']);
  t.ok(m.dates.published, 'publication date');
  t.equal(m.dates.expires, null);
  t.equal(m.cells, 15);
  t.equal(m.suppressed, 2);
  t.ok(
    m.notes.some((n: string) => /2 of 15 cells are suppressed/.test(n)),
    'suppression note',
  );
  t.equal(m.links.structure, `/v1/releases/${pub}/tables/pop/structure`);
  t.notMatch(r.body, new RegExp(String(SECRET)));
  const w = json(await get(`/v1/releases/${gone}/tables/pop/metadata`));
  t.equal(w.status, 'withdrawn', 'a withdrawn release keeps its metadata');
  t.equal(w.dates.withdrawReason, 'a coding error');
  t.equal((await get(`/v1/releases/${pub}/tables/nope/metadata`)).statusCode, 404);
  t.equal(json(await get(`/v1/releases/${pub}/tables/nope/metadata`)).code, 'TABLE_NOT_FOUND');
});

t.test('SDMX structure: the dataflow, dimensions and codes of the SDMX-CSV data', async (t) => {
  const r = await get(`/v1/releases/${pub}/tables/pop/structure`);
  t.equal(r.statusCode, 200);
  t.match(r.headers['content-type'], /^application\/vnd\.sdmx\.structure\+json; version=2\.0\.0/);
  const s = json(r);
  t.equal(s.meta.sender.id, 'STATGUARD');
  t.same(s.meta.contentLanguages, ['en']);
  const csv = (await get(`/v1/releases/${pub}/tables/pop?format=sdmx-csv`)).body.trim().split('\n');
  const header = csv[0]!.split(',');
  const rows = csv.slice(1).map((l) => l.split(','));
  const flow = s.data.dataflows[0];
  t.equal(`${flow.agencyID}:${flow.id}(${flow.version})`, rows[0]![1], 'STRUCTURE_ID names this dataflow');
  const dsd = s.data.dataStructures[0];
  t.equal(flow.structure, `urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=STATGUARD:${dsd.id}(1.0)`);
  const comps = dsd.dataStructureComponents;
  const dims = comps.dimensionList.dimensions as {
    id: string;
    position: number;
    localRepresentation: { enumeration: string };
  }[];
  const components = [
    ...dims.map((d) => d.id),
    ...comps.measureList.measures.map((m: { id: string }) => m.id),
    ...comps.attributeList.attributes.map((a: { id: string }) => a.id),
  ];
  t.same(components, header.slice(3), 'every SDMX-CSV column after ACTION is a component of the DSD, in order');
  t.same(
    comps.attributeList.attributes.map((a: { id: string; usage: string }) => [a.id, a.usage]),
    [
      ['OBS_STATUS', 'mandatory'],
      ['CONF_STATUS', 'mandatory'],
      ['NOISE_SD', 'optional'],
      ['HALF_WIDTH_95', 'optional'],
    ],
  );
  const lists = new Map(
    (s.data.codelists as { id: string; codes: { id: string; name: string; parent?: string }[] }[]).map((c) => [
      c.id,
      c,
    ]),
  );
  dims.forEach((d, k) => {
    const clId = /Codelist=STATGUARD:(\w+)\(1\.0\)$/.exec(d.localRepresentation.enumeration)![1]!;
    const codes = new Set(lists.get(clId)!.codes.map((c) => c.id));
    const used = new Set(rows.map((row) => row[3 + k]!));
    t.same(
      [...used].filter((c) => !codes.has(c)),
      [],
      `every ${d.id} code of the data is in ${clId}`,
    );
    t.equal(codes.size, used.size, `${clId} has exactly the data's codes`);
  });
  t.same(
    lists.get('CL_POP_REGION')!.codes.find((c) => c.id === 'N1'),
    { id: 'N1', name: 'North, one', names: { en: 'North, one' }, parent: 'N' },
  );
  const status = (id: string) => new Set(lists.get(id)!.codes.map((c) => c.id));
  for (const row of rows) {
    t.ok(status('CL_OBS_STATUS').has(row[header.indexOf('OBS_STATUS')]!));
    t.ok(status('CL_CONF_STATUS').has(row[header.indexOf('CONF_STATUS')]!));
  }
  const sdc = json(await get(`/v1/releases/${restricted}/tables/pop/structure`, officer));
  const sdcHeader = (await get(`/v1/releases/${restricted}/tables/pop?format=sdmx-csv`, officer)).body.split('\n')[0]!;
  const sdcComps = sdc.data.dataStructures[0].dataStructureComponents;
  t.same(
    [
      ...sdcComps.dimensionList.dimensions.map((d: { id: string }) => d.id),
      'OBS_VALUE',
      ...sdcComps.attributeList.attributes.map((a: { id: string }) => a.id),
    ],
    sdcHeader.split(',').slice(3),
    'sdc: the same components as its SDMX-CSV columns',
  );
});

t.test('access: the same rules as the data', async (t) => {
  const routes = (id: string) => [
    `/v1/releases/${id}/codelists`,
    `/v1/releases/${id}/codelists/region`,
    `/v1/releases/${id}/tables/pop/codelists`,
    `/v1/releases/${id}/tables/pop/metadata`,
    `/v1/releases/${id}/tables/pop/structure`,
  ];
  for (const url of [...routes(restricted), ...routes(draft)]) {
    for (const [who, key] of [
      ['anonymous', undefined],
      ['researcher without contract', other],
    ] as const) {
      const r = await get(url, key);
      t.equal(r.statusCode, 404, `${who}: ${url} does not exist`);
      t.equal(json(r).code, 'RELEASE_NOT_FOUND');
      t.notMatch(r.body, /North|Population/, 'nothing of it shown');
    }
  }
  for (const url of routes(restricted)) t.equal((await get(url, researcher.key)).statusCode, 200, `contract: ${url}`);
  for (const url of routes(draft)) t.equal((await get(url, officer)).statusCode, 200, `officer: ${url}`);
  for (const url of routes(draft)) t.equal((await get(url, researcher.key)).statusCode, 404, `researcher: ${url}`);
  const bad = await get(routes(pub)[0]!, 'sg_nope_nope');
  t.equal(bad.statusCode, 401);
  t.equal(bad.headers['www-authenticate'], 'Bearer realm="statguard"');
  t.equal((await get('/v1/datasets/census-sdc/codelists')).statusCode, 404, 'no public release of census-sdc');
  t.equal(json(await get('/v1/datasets/census-sdc/codelists', researcher.key)).release, restricted);
});

t.test('lang: default, and an unknown language refused naming the available ones', async (t) => {
  t.equal(json(await get(`/v1/releases/${pub}/codelists?lang=en`)).language, 'en');
  for (const url of [
    `/v1/releases/${pub}/codelists?lang=fr`,
    `/v1/releases/${pub}/tables/pop/metadata?lang=fr`,
    `/v1/releases/${pub}/tables/pop/structure?lang=fr`,
  ]) {
    const r = await get(url);
    t.equal(r.statusCode, 400, url);
    t.equal(json(r).code, 'UNKNOWN_LANGUAGE');
    t.same(json(r).languages, ['en']);
    t.match(json(r).detail, /"fr".*languages are en/);
  }
});

t.test('lang: labels in every format and metadata route follow it; codes and values do not change', async (t) => {
  const data = (q: string) => get(`/v1/releases/${multi}/tables/pop?${q}`);
  const en = json(await data('labels=both'));
  const fr = json(await data('labels=both&lang=fr'));
  t.same(json(await data('labels=both&lang=en')), en, 'lang=en is the default');
  t.same(en.dimensions[0].labels, ['North, one', 'North two', 'South', 'North', 'Total']);
  t.same(fr.dimensions[0].labels, ['Nord, un', 'Nord deux', 'Sud', 'Nord', 'Total']);
  t.equal(fr.dimensions[0].label, 'Région');
  t.same(fr.dimensions[1].labels, ['Hommes', 'Femmes', 'Total']);
  t.same(
    fr.cells.map((c: { key: string[]; value: unknown; conf: string }) => [c.key, c.value, c.conf]),
    en.cells.map((c: { key: string[]; value: unknown; conf: string }) => [c.key, c.value, c.conf]),
    'same codes, values and statuses',
  );
  t.same(fr.cells[0].labels, ['Nord, un', 'Hommes']);
  const csv = (await data('format=csv&lang=fr&region=N1&sex=1')).body.trim().split('\n');
  t.equal(csv[0]!.split(',').slice(0, 4).join(','), 'region,region_label,sex,sex_label', 'CSV header unchanged');
  t.match(csv[1]!, /^N1,"Nord, un",1,Hommes,/);
  const js = json(await data('format=jsonstat&lang=fr'));
  t.equal(js.dimension.region.label, 'Région');
  t.equal(js.dimension.region.category.label.N1, 'Nord, un');
  t.equal(js.dimension.sex.category.label['2'], 'Femmes');
  const jsEn = json(await data('format=jsonstat'));
  t.equal(
    jsEn.dimension.region.category.label.N1,
    'North, one',
    'the cached French rendering does not leak into English',
  );
  t.same(js.value, jsEn.value);
  const sdmx = (await data('format=sdmx-csv&labels=both&lang=fr&region=N&sex=2')).body;
  t.match(sdmx, /,N: Nord,2: Femmes,/);
  for (const f of ['xlsx', 'parquet'].filter((x) => (FORMATS as readonly string[]).includes(x)))
    t.equal((await data(`format=${f}&lang=fr`)).statusCode, 200, `${f} in French`);
  const bad = await data('lang=de');
  t.equal(bad.statusCode, 400);
  t.equal(json(bad).code, 'UNKNOWN_LANGUAGE');
  t.same(json(bad).languages, ['en', 'fr']);
  t.match(json(bad).detail, /"de".*languages are en, fr/);

  const cl = json(await get(`/v1/releases/${multi}/codelists?lang=fr`));
  t.equal(cl.language, 'fr');
  t.same(cl.languages, ['en', 'fr']);
  t.same(
    cl.codelists[0].values.map((v: Value) => [v.code, v.label]),
    ['N1', 'N2', 'S1', 'N', '_T'].map((c) => [c, FRENCH[c] ?? 'Total']),
  );
  t.equal(json(await get(`/v1/releases/${multi}/codelists`)).codelists[0].values[0].label, 'North, one');
  const md = json(await get(`/v1/releases/${multi}/tables/pop/metadata?lang=fr`));
  t.same(md.languages, ['en', 'fr']);
  t.equal(md.dimensions[0].label, 'Région');
  const st = json(await get(`/v1/releases/${multi}/tables/pop/structure?lang=fr`));
  t.same(st.meta.contentLanguages, ['fr', 'en']);
  const region = st.data.codelists.find((c: { id: string }) => c.id === 'CL_POP_REGION');
  t.equal(region.name, 'Région');
  t.same(region.names, { en: 'Region', fr: 'Région' });
  t.same(region.codes[0], { id: 'N1', name: 'Nord, un', names: { en: 'North, one', fr: 'Nord, un' }, parent: 'N' });
  const detail = json(await get(`/v1/releases/${multi}?lang=fr`));
  t.equal(detail.tables[0].dimensions[0].categories[0].label, 'Nord, un');
  t.equal((await get(`/v1/releases/${multi}?lang=xx`)).statusCode, 400);
});

t.test('a declared unit of measure, in the requested language, in every place a reader sees it', async (t) => {
  const base = `/v1/releases/${multi}/tables/pop`;
  for (const [lang, unit] of [
    ['en', 'residents'],
    ['fr', 'résidents'],
  ] as const) {
    const q = `lang=${lang}`;
    const md = json(await get(`${base}/metadata?${q}`));
    t.equal(md.measures[0].unit, unit, `${lang}: metadata route`);
    t.equal(json(await get(`${base}?${q}`)).unit, unit, `${lang}: JSON table`);
    const js = json(await get(`${base}?format=jsonstat&${q}`));
    t.same(js.extension.unit, { label: unit }, `${lang}: JSON-stat extension.unit`);
    t.ok(js.note.includes(`Unit of measure: ${unit}.`), `${lang}: JSON-stat note`);
    const detail = json(await get(`/v1/releases/${multi}?${q}`));
    t.equal(detail.tables[0].measure.unit, unit, `${lang}: release detail (the web page's table header)`);
    const x = await get(`${base}?format=xlsx&${q}`);
    const notes = (await xlsxSheets(x.rawPayload)).get('Notes')!;
    t.ok(
      notes.some((r) => r[0] === 'Unit of measure' && r[1] === unit),
      `${lang}: xlsx Notes sheet`,
    );
    const st = json(await get(`${base}/structure?${q}`));
    const dsd = st.data.dataStructures[0].dataStructureComponents;
    const attr = dsd.attributeList.attributes.find((a: { id: string }) => a.id === 'UNIT_MEASURE');
    t.same(attr.attributeRelationship, { dataflow: {} }, `${lang}: UNIT_MEASURE attached to the dataflow`);
    t.match(attr.localRepresentation.enumeration, /Codelist=STATGUARD:CL_POP_UNIT_MEASURE\(1\.0\)$/);
    const cl = st.data.codelists.find((c: { id: string }) => c.id === 'CL_POP_UNIT_MEASURE');
    t.same(cl.codes, [{ id: 'RESIDENTS', name: unit, names: { en: 'residents', fr: 'résidents' } }]);
    t.ok(
      st.data.conceptSchemes[0].concepts.some((c: { id: string }) => c.id === 'UNIT_MEASURE'),
      'its concept',
    );
  }
  // Without a declared unit: the unit a count is in, and nothing new in the formats.
  t.equal(json(await get(`/v1/releases/${pub}/tables/pop/metadata`)).measures[0].unit, 'persons');
  t.notOk('unit' in json(await get(`/v1/releases/${pub}/tables/pop`)));
  t.notOk('unit' in json(await get(`/v1/releases/${pub}/tables/pop?format=jsonstat`)).extension);
  const st = json(await get(`/v1/releases/${pub}/tables/pop/structure`));
  t.notOk(
    st.data.dataStructures[0].dataStructureComponents.attributeList.attributes.some(
      (a: { id: string }) => a.id === 'UNIT_MEASURE',
    ),
    'no UNIT_MEASURE without a unit',
  );
});

t.test('DCAT-AP catalogue (JSON-LD)', async (t) => {
  const r = await get('/v1/catalog');
  t.equal(r.statusCode, 200);
  t.match(r.headers['content-type'], /^application\/ld\+json/);
  const c = json(r);
  t.equal(c['@context'].dcat, 'http://www.w3.org/ns/dcat#');
  t.equal(c['@context'].dct, 'http://purl.org/dc/terms/');
  t.equal(c['@type'], 'dcat:Catalog');
  t.match(c['@id'], /^http:\/\/localhost(:\d+)?\/v1\/catalog$/);
  for (const k of ['dct:title', 'dct:description', 'dct:publisher']) t.ok(c[k], `catalogue ${k}`);
  const ids = c['dcat:dataset'].map((d: { 'dct:identifier': string }) => d['dct:identifier']);
  t.same(
    ids.sort(),
    [pub, multi].sort(),
    'anonymous: only the public published releases (not withdrawn, restricted or draft)',
  );
  const d = c['dcat:dataset'].find((x: { 'dct:identifier': string }) => x['dct:identifier'] === pub);
  t.equal(d['@type'], 'dcat:Dataset');
  for (const k of ['dct:title', 'dct:description', 'dct:issued', 'dct:modified', 'dct:publisher'])
    t.ok(d[k], `dataset ${k}`);
  t.equal(d['dct:issued']['@type'], 'xsd:dateTime');
  t.equal(d['dct:accessRights']['@id'], 'http://publications.europa.eu/resource/authority/access-right/PUBLIC');
  const dist = d['dcat:distribution'] as {
    '@type': string;
    'dcat:accessURL': { '@id': string };
    'dcat:mediaType': { '@id': string };
  }[];
  t.same(
    dist.map((x) => new URL(x['dcat:accessURL']['@id']).searchParams.get('format')),
    [...FORMATS],
    'one distribution per format',
  );
  t.ok(dist.every((x) => x['@type'] === 'dcat:Distribution'));
  t.equal(dist[1]!['dcat:mediaType']['@id'], 'http://www.iana.org/assignments/media-types/text/csv');
  t.notOk('dcat:theme' in d, 'no theme when the policy names none');
  const m = c['dcat:dataset'].find((x: { 'dct:identifier': string }) => x['dct:identifier'] === multi);
  t.same(m['dcat:theme'], [{ '@id': FIXTURE_THEME }], "the policy's themes");
  t.same(m['dct:title'], { '@value': 'Release multi', '@language': 'en' });
  const eu = 'http://publications.europa.eu/resource/authority/language/';
  t.same(m['dct:language'], [{ '@id': `${eu}ENG` }, { '@id': `${eu}FRA` }], 'languages as EU authority IRIs');
  t.same(d['dct:language'], [{ '@id': `${eu}ENG` }]);
  const access = new URL(dist[1]!['dcat:accessURL']['@id']);
  const data = await get(`${access.pathname}${access.search}`);
  t.equal(data.statusCode, 200, 'the access URL serves the data');
  const withContract = json(await get('/v1/catalog', researcher.key))['dcat:dataset'].map(
    (x: { 'dct:identifier': string }) => x['dct:identifier'],
  );
  t.same(withContract.sort(), [pub, multi, restricted].sort(), 'a researcher also sees its contract releases');
  const paged = json(await get('/v1/catalog?limit=1', officer));
  t.equal(paged['dcat:dataset'].length, 1);
  t.match(paged['hydra:view']['hydra:next']['@id'], /offset=1$/);
});

t.test('DCAT links use the configured public URL', async (t) => {
  const app2 = await build({
    store,
    logger: false,
    config: { rateLimit: null, servers: [{ url: 'https://stats.example.org/api' }] },
  });
  t.teardown(() => app2.close());
  const c = JSON.parse((await app2.inject({ url: '/v1/catalog' })).body);
  t.equal(c['@id'], 'https://stats.example.org/api/v1/catalog');
  t.ok(
    c['dcat:dataset'].some((d: { '@id': string }) => d['@id'] === `https://stats.example.org/api/v1/releases/${pub}`),
  );
});

t.test('every metadata request leaves an audit row', async (t) => {
  await app.statguard.audit.flush();
  const rows = await db
    .selectFrom('audit_log')
    .select(['action', 'target', 'outcome', 'caller'])
    .where('action', 'in', ['codelist.read', 'metadata.read', 'structure.read', 'catalog.read'])
    .execute();
  const has = (action: string, target: string | null, outcome = 'ok') =>
    rows.some((r) => r.action === action && r.target === target && r.outcome === outcome);
  t.ok(has('codelist.read', pub), 'release codelists');
  t.ok(has('codelist.read', `${pub}/pop`), 'table codelists');
  t.ok(has('codelist.read', 'dataset:census'), 'dataset codelists');
  t.ok(has('metadata.read', `${pub}/pop`), 'table metadata');
  t.ok(has('structure.read', `${pub}/pop`), 'SDMX structure');
  t.ok(has('catalog.read', null), 'catalogue');
  t.ok(has('metadata.read', `${restricted}/pop`, 'ok'), 'contract read');
  t.ok(
    rows.some((r) => r.action === 'codelist.read' && r.outcome === 'denied' && r.caller !== 'anonymous'),
    "an authenticated caller's refusal has a row of its own",
  );
  t.notMatch(JSON.stringify(rows), new RegExp(String(SECRET)));
});
