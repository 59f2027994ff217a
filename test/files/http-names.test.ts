import { describe, expect, test } from 'vitest';
import { parseRange } from '../../src/files/downloads.js';
import { cleanFileName, cleanMediaType, contentDisposition, servingOf } from '../../src/files/names.js';

// File names, media types and Range parsing, without a server.

describe('cleanFileName', () => {
  test.each([
    ['../../etc/passwd', '_.._etc_passwd'],
    ['..\\..\\boot.ini', '_.._boot.ini'],
    ['a\u0000b.txt', 'a_b.txt'],
    ['line\nbreak\r.txt', 'line_break_.txt'],
    ['say "hi".txt', 'say "hi".txt'],
    ['invoice\u202egpj.exe', 'invoicegpj.exe'],
    ['\u2066isolate\u2069.txt', 'isolate.txt'],
    ['Résumé 履歴書 🚀.pdf', 'Résumé 履歴書 🚀.pdf'],
    ['..', 'file'],
    ['   ', 'file'],
    ['.hidden', 'hidden'],
    ['trailing. . ', 'trailing'],
  ])('%j becomes %j', (raw, cleaned) => {
    expect(cleanFileName(raw)).toBe(cleaned);
  });

  test('decomposed letters are composed', () => {
    expect(cleanFileName('Re\u0301sume\u0301.txt')).toBe('Résumé.txt');
  });

  test('300-character name is cut to 255 bytes', () => {
    const name = cleanFileName(`${'a'.repeat(300)}.txt`);
    expect(Buffer.byteLength(name)).toBe(255);
    expect(name.endsWith('.txt')).toBe(true);
  });

  test('multibyte name is cut between characters', () => {
    const name = cleanFileName(`${'履'.repeat(300)}.pdf`);
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    expect(name).toMatch(/^履+\.pdf$/);
  });

  test('emoji sequence is never split', () => {
    const family = '👨‍👩‍👧';
    const name = cleanFileName(family.repeat(40));
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    expect(name.length % family.length).toBe(0);
  });

  test('unpaired surrogate is replaced', () => {
    expect(cleanFileName('a\ud800b')).toBe('a\ufffdb');
  });
});

describe('contentDisposition', () => {
  test('ASCII name', () => {
    expect(contentDisposition('inline', 'photo.png')).toBe(`inline; filename="photo.png"; filename*=UTF-8''photo.png`);
  });

  test('quotes, percent and backslash stay out of the quoted form', () => {
    const header = contentDisposition('attachment', 'a"b%c\\d.txt');
    expect(header).toBe(`attachment; filename="a_b_c_d.txt"; filename*=UTF-8''a%22b%25c_d.txt`);
  });

  test('Unicode name kept in filename*', () => {
    const header = contentDisposition('attachment', 'Résumé 🚀.pdf');
    expect(header).toContain(`filename="R_sum_ __.pdf"`);
    expect(header).toContain(`filename*=UTF-8''R%C3%A9sum%C3%A9%20%F0%9F%9A%80.pdf`);
    expect(decodeURIComponent(header.split("UTF-8''")[1] as string)).toBe('Résumé 🚀.pdf');
  });

  test('header has no control characters', () => {
    const header = contentDisposition('attachment', 'evil\r\nSet-Cookie: x=1\u0000.txt');
    expect(header).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(header).toContain('filename="evil__Set-Cookie: x=1_.txt"');
  });

  test("RFC 8187 specials ' ( ) * are encoded", () => {
    expect(contentDisposition('inline', "it's (1)*.txt")).toContain(`filename*=UTF-8''it%27s%20%281%29%2A.txt`);
  });
});

describe('media types', () => {
  test.each([
    ['image/PNG', 'image/png'],
    ['text/plain; charset=utf-8', 'text/plain'],
    ['', 'application/octet-stream'],
    ['nonsense', 'application/octet-stream'],
    ['text/html\r\nx: y', 'application/octet-stream'],
  ])('%j is stored as %j', (raw, stored) => {
    expect(cleanMediaType(raw)).toBe(stored);
  });

  test.each(['image/svg+xml', 'text/html', 'application/xhtml+xml', 'text/xml', 'application/javascript', 'application/pdf', 'text/css'])(
    '%s is served as an octet-stream attachment',
    (type) => {
      expect(servingOf(type, false)).toEqual({ contentType: 'application/octet-stream', disposition: 'attachment' });
    },
  );

  test('inert types are inline unless forced', () => {
    expect(servingOf('image/png', false)).toEqual({ contentType: 'image/png', disposition: 'inline' });
    expect(servingOf('image/png', true)).toEqual({ contentType: 'image/png', disposition: 'attachment' });
  });
});

describe('parseRange', () => {
  const size = 1000;
  test.each([
    [undefined, { kind: 'full' }],
    ['bytes=0-0', { kind: 'partial', start: 0, end: 0 }],
    ['bytes=999-999', { kind: 'partial', start: 999, end: 999 }],
    ['bytes=500-', { kind: 'partial', start: 500, end: 999 }],
    ['bytes=-1', { kind: 'partial', start: 999, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    ['bytes=10-99999', { kind: 'partial', start: 10, end: 999 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-6', { kind: 'full' }],
    ['bytes=5-1', { kind: 'full' }],
    ['bytes=abc', { kind: 'full' }],
    ['items=0-1', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
    ['bytes=99999999999999999999-', { kind: 'full' }],
  ])('%s', (header, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  test('any range of an empty file is unsatisfiable', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-1', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});
