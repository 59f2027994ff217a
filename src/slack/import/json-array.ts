/**
 * Error of a file that is not a well-formed JSON array: not an array at all,
 * an entry that is not valid JSON or exceeds the size limit, or a file that
 * ends before the array is closed.
 */
export class JsonArrayError extends Error {
  constructor(
    message: string,
    /** True when the file contains valid JSON that is not an array, rather than broken JSON. */
    readonly notArray = false,
  ) {
    super(message);
    this.name = 'JsonArrayError';
  }
}

const SPACE = 0x20;
const TAB = 0x09;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const UTF8_BOM = [0xef, 0xbb, 0xbf];

const isSpace = (byte: number) => byte === SPACE || byte === TAB || byte === LINE_FEED || byte === CARRIAGE_RETURN;

type Position = 'start' | 'before-entry' | 'entry' | 'end';

/**
 * Reads the entries of a top-level JSON array from a byte stream one at a
 * time, so memory contains one entry, not the file. The scanner only finds where
 * each entry ends (tracking strings, escapes and nesting depth), and
 * JSON.parse parses the entry, so every entry is validated as JSON.parse
 * would. An entry longer than `maxEntryBytes` raises JsonArrayError, as does
 * any damage; the entries before the damage have been yielded by then.
 */
export async function* readJsonArray(chunks: AsyncIterable<Buffer>, maxEntryBytes: number): AsyncGenerator<unknown> {
  let position: Position = 'start';
  let bomBytes = 0;
  // Bytes read before the opening bracket, so a byte order mark is accepted only at the very start.
  let consumed = 0;
  let entries = 0;
  // Pieces of the current entry that earlier chunks held.
  let pieces: Buffer[] = [];
  let pieceBytes = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;

  const parseEntry = (last: Buffer): unknown => {
    const bytes = pieces.length === 0 ? last : Buffer.concat([...pieces, last]);
    pieces = [];
    pieceBytes = 0;
    if (bytes.length > maxEntryBytes) throw new JsonArrayError(`entry ${entries + 1} is larger than ${maxEntryBytes} bytes`);
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      throw new JsonArrayError(`entry ${entries + 1} is not valid JSON: ${(error as Error).message}`);
    }
  };

  for await (const chunk of chunks) {
    let entryStart = 0;
    for (let index = 0; index < chunk.length; index += 1) {
      const byte = chunk[index]!;
      if (position === 'start') {
        // A UTF-8 byte order mark may open the file.
        if (bomBytes === consumed && bomBytes < UTF8_BOM.length && byte === UTF8_BOM[bomBytes]) {
          bomBytes += 1;
          consumed += 1;
          continue;
        }
        consumed += 1;
        if (isSpace(byte)) continue;
        if (byte !== OPEN_BRACKET) throw new JsonArrayError('the file is not a JSON array', true);
        position = 'before-entry';
        continue;
      }
      if (position === 'before-entry') {
        if (isSpace(byte)) continue;
        // Only an empty array closes before its first entry; "[1,]" reaches the entry's parse and fails there.
        if (byte === CLOSE_BRACKET && entries === 0) {
          position = 'end';
          continue;
        }
        position = 'entry';
        entryStart = index;
        depth = 0;
        inString = false;
        escaped = false;
      }
      if (position === 'entry') {
        if (inString) {
          if (escaped) escaped = false;
          else if (byte === BACKSLASH) escaped = true;
          else if (byte === QUOTE) inString = false;
          continue;
        }
        if (byte === QUOTE) inString = true;
        else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth += 1;
        else if ((byte === CLOSE_BRACE || byte === CLOSE_BRACKET) && depth > 0) depth -= 1;
        else if (depth === 0 && (byte === COMMA || byte === CLOSE_BRACKET)) {
          const value = parseEntry(chunk.subarray(entryStart, index));
          entries += 1;
          position = byte === COMMA ? 'before-entry' : 'end';
          yield value;
        }
        continue;
      }
      // position === 'end': only white space may follow the array.
      if (!isSpace(byte)) throw new JsonArrayError('unexpected data after the end of the array');
    }

    if (position === 'entry') {
      pieces.push(chunk.subarray(entryStart));
      pieceBytes += chunk.length - entryStart;
      if (pieceBytes > maxEntryBytes) throw new JsonArrayError(`entry ${entries + 1} is larger than ${maxEntryBytes} bytes`);
    }
  }

  // A cast, because TypeScript keeps `position` narrowed by the loop body and would reject these comparisons.
  const final = position as Position;
  if (final === 'start') throw new JsonArrayError('the file is empty');
  if (final !== 'end') throw new JsonArrayError(`the file ends before the array is closed, after ${entries} complete entries`);
}
