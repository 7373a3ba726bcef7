// MovieLens loader through ingest(): ISO-8859-1 titles, .gz, file resolution, and every bad-input
// case failing with file + line + field and leaving nothing under the final key.
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DataError } from '../../core/data/errors';
import { ingest } from '../../core/data/ingest';
import { loadDataset } from '../../core/data/dataset';
import { ACCENTED_TITLES, makeFixture, mlConfig, movieLines, ratingLines } from './fixtures';

test('ISO-8859-1 titles survive ingest byte for byte; year and genres are parsed', async () => {
  const f = makeFixture();
  try {
    const r = await ingest({ store: f.store, dataset: mlConfig(), dir: f.dir });
    const view = await loadDataset(f.store, r.key);
    for (const [id, title] of Object.entries(ACCENTED_TITLES)) {
      const item = view.meta.items.find((i) => i.id === id);
      assert.ok(item, `item ${id} indexed`);
      assert.equal(item.title, title);
    }
    const les = view.meta.items.find((i) => i.id === '7')!;
    assert.equal(les.year, 1995);
    // movie 7 is the 7th line: genres "Children's|Animation"; category = first genre.
    assert.deepEqual(les.genres, ["Children's", 'Animation']);
    assert.equal(les.categoryName, "Children's");
    assert.equal(view.meta.categories[les.category - 1], "Children's");
    assert.deepEqual(view.meta.userAttributes?.[1], { gender: 'M', age: 56, occupation: 16, zip: '70072' });
    // meta.json itself is UTF-8 JSON: the accent is one code point, not mojibake.
    const metaText = (await f.store.get(`${r.key}/meta.json`)).toString('utf8');
    assert.ok(metaText.includes('Misérables'));
  } finally {
    f.cleanup();
  }
});

test('gzipped ratings under another name are found; same content gives the same key as plain', async () => {
  const f = makeFixture();
  try {
    const plain = await ingest({ store: f.store, dataset: mlConfig(), dir: f.dir });
    writeFileSync(join(f.dir, 'ratings.users-1-3.dat.gz'), gzipSync(readFileSync(join(f.dir, 'ratings.dat'))));
    renameSync(join(f.dir, 'ratings.dat'), join(f.root, 'ratings.dat.bak'));
    const gz = await ingest({ store: f.store, dataset: mlConfig(), dir: f.dir });
    assert.deepEqual(gz.counts, plain.counts);
    // The key hashes file bytes: a gzip file is different bytes, so a different (but equal) dataset.
    assert.notEqual(gz.key, plain.key);
    assert.equal(gz.sources.find((s) => s.role === 'ratings')?.name, 'ratings.users-1-3.dat.gz');
    // Two candidates and no dataset.ratingsFile: refuse to guess.
    writeFileSync(join(f.dir, 'ratings.other.dat'), readFileSync(join(f.root, 'ratings.dat.bak')));
    await assert.rejects(ingest({ store: f.store, dataset: mlConfig(), dir: f.dir }), (e: unknown) => e instanceof DataError && /exactly one/.test(e.expected));
    const chosen = await ingest({ store: f.store, dataset: mlConfig({ ratingsFile: 'ratings.other.dat' }), dir: f.dir });
    assert.equal(chosen.key, plain.key);
    assert.equal(chosen.skipped, true);
  } finally {
    f.cleanup();
  }
});

interface BadCase {
  name: string;
  setup: (f: ReturnType<typeof makeFixture>) => void;
  file: string;
  line: number | 'any';
  field: string;
}

const withLine = (lines: string[], n: number, line: string) => lines.map((l, i) => (i === n - 1 ? line : l));

const BAD: BadCase[] = [
  {
    name: 'wrong separator',
    setup: (f) => f.write('ratings.dat', withLine(ratingLines(), 5, '1,12,4,978300760').join('\n') + '\n'),
    file: 'ratings.dat',
    line: 5,
    field: 'separator',
  },
  {
    name: 'tab-separated file',
    setup: (f) => f.write('ratings.dat', ratingLines().map((l) => l.replaceAll('::', '\t')).join('\n') + '\n'),
    file: 'ratings.dat',
    line: 1,
    field: 'separator',
  },
  {
    name: 'bad rating',
    setup: (f) => f.write('ratings.dat', withLine(ratingLines(), 7, '1::3::6::978300760').join('\n') + '\n'),
    file: 'ratings.dat',
    line: 7,
    field: 'Rating',
  },
  {
    name: 'half-star rating',
    setup: (f) => f.write('ratings.dat', withLine(ratingLines(), 8, '1::3::3.5::978300760').join('\n') + '\n'),
    file: 'ratings.dat',
    line: 8,
    field: 'Rating',
  },
  {
    name: 'unknown item id',
    setup: (f) => f.write('ratings.dat', withLine(ratingLines(), 9, '2::4242::4::978300760').join('\n') + '\n'),
    file: 'ratings.dat',
    line: 9,
    field: 'MovieID',
  },
  {
    name: 'unknown user id',
    setup: (f) => f.write('ratings.dat', withLine(ratingLines(), 10, '77::3::4::978300760').join('\n') + '\n'),
    file: 'ratings.dat',
    line: 10,
    field: 'UserID',
  },
  {
    name: 'bad timestamp',
    setup: (f) => f.write('ratings.dat', withLine(ratingLines(), 11, '2::3::4::yesterday').join('\n') + '\n'),
    file: 'ratings.dat',
    line: 11,
    field: 'Timestamp',
  },
  {
    name: 'truncated gzip',
    setup: (f) => {
      const many = Array.from({ length: 40 }, () => ratingLines()).flat();
      const gz = gzipSync(many.join('\n') + '\n');
      f.write('ratings.dat.gz', gz.subarray(0, Math.floor(gz.length * 0.6)));
      renameSync(join(f.dir, 'ratings.dat'), join(f.root, 'ratings.dat.bak'));
    },
    file: 'ratings.dat.gz',
    line: 'any',
    field: 'gzip',
  },
  {
    name: 'wrong encoding (UTF-8 movies.dat)',
    setup: (f) => f.write('movies.dat', Buffer.from(movieLines().join('\n') + '\n', 'utf8')),
    file: 'movies.dat',
    line: 7,
    field: 'encoding',
  },
  {
    name: 'wrong encoding (UTF-16 movies.dat)',
    setup: (f) => f.write('movies.dat', Buffer.from(movieLines().join('\n') + '\n', 'utf16le')),
    file: 'movies.dat',
    line: 1,
    field: 'encoding',
  },
  {
    name: 'double-encoded UTF-8 ("Ã©") beside a real ISO-8859-1 accent in movies.dat',
    setup: (f) => f.write('movies.dat', Buffer.from(withLine(movieLines(), 7, "7::Café des MisÃ©rables (1995)::Children's|Animation").join('\n') + '\n', 'latin1')),
    file: 'movies.dat',
    line: 7,
    field: 'Title',
  },
  {
    name: 'double-encoded UTF-8 in a users.dat field',
    setup: (f) => f.write('users.dat', Buffer.from('1::F::1::10::48067\n2::M::56::16::Zürich ä¸­\n3::M::25::15::55117\n', 'latin1')),
    file: 'users.dat',
    line: 2,
    field: 'Zip-code',
  },
  {
    name: 'movies.dat with a missing field',
    setup: (f) => f.write('movies.dat', Buffer.from(withLine(movieLines(), 3, '3::No Genres (1990)').join('\n') + '\n', 'latin1')),
    file: 'movies.dat',
    line: 3,
    field: 'separator',
  },
  {
    name: 'users.dat with a bad gender',
    setup: (f) => f.write('users.dat', '1::F::1::10::48067\n2::X::56::16::70072\n3::M::25::15::55117\n'),
    file: 'users.dat',
    line: 2,
    field: 'Gender',
  },
];

for (const c of BAD) {
  test(`bad input: ${c.name} → DataError naming file, line and field; nothing stored`, async () => {
    const f = makeFixture();
    try {
      c.setup(f);
      await assert.rejects(ingest({ store: f.store, dataset: mlConfig(), dir: f.dir }), (e: unknown) => {
        assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
        assert.ok(e.file.endsWith(c.file), `file ${e.file}`);
        if (c.line === 'any') assert.ok(e.line >= 1, `line ${e.line}`);
        else assert.equal(e.line, c.line);
        assert.equal(e.field, c.field);
        assert.ok(e.expected.length > 0);
        assert.ok(e.message.includes(c.file) && e.message.includes(c.field), e.message);
        return true;
      });
      assert.deepEqual(await f.store.list('ingest/'), [], 'nothing under any ingest key');
    } finally {
      f.cleanup();
    }
  });
}

test('mojibake: the error says where, which field, what was found and how to fix it; the real accents pass', async () => {
  const f = makeFixture({ movies: withLine(movieLines(), 8, '8::Metisse (CafÃ© au Lait) (1993)::Comedy') });
  try {
    // Line 7 holds a real ISO-8859-1 accent ("Misérables"), line 8 the UTF-8 bytes of "é" read as ISO-8859-1.
    await assert.rejects(ingest({ store: f.store, dataset: mlConfig(), dir: f.dir }), (e: unknown) => {
      assert.ok(e instanceof DataError, String(e));
      assert.equal(e.line, 8);
      assert.equal(e.field, 'Title');
      assert.match(e.found ?? '', /Ã©/);
      assert.match(e.found ?? '', /é/);
      assert.match(e.suggestion ?? '', /ISO-8859-1/);
      assert.match(e.message, /movies\.dat:8: field "Title"/);
      return true;
    });
  } finally {
    f.cleanup();
  }
  // A whole line of UTF-8 that itself spells mojibake: the text was encoded twice.
  const g = makeFixture();
  try {
    g.write('movies.dat', Buffer.from(withLine(movieLines(), 7, "7::MisÃ©rables, Les (1995)::Drama").join('\n') + '\n', 'utf8'));
    await assert.rejects(ingest({ store: g.store, dataset: mlConfig(), dir: g.dir }), (e: unknown) => e instanceof DataError && e.line === 7 && /twice/.test(e.found ?? '') && !!e.suggestion);
  } finally {
    g.cleanup();
  }
});
