/**
 * A synthetic chat corpus for the search benchmark: about 1 KB messages whose
 * words follow Zipf's law over a 30,000-word vocabulary, so some words are in
 * most messages and others in a few hundred. It is deterministic: the same
 * seed builds the same messages.
 */

/** A seeded pseudo-random generator (mulberry32), uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/** Real words at the top of the vocabulary, so common-word queries read naturally. */
const COMMON_WORDS = (
  'the to and a of is in it that for you on this we be with have not are but can just so what if at do was ' +
  'deploy server build test release fix bug merge review branch error log config database query cache team ' +
  'channel message thread file link user issue ticket update change patch version staging production backup ' +
  'monitor alert metric latency memory disk network request response timeout retry queue worker job schedule'
).split(' ');

const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'tu', 'sa', 'vor', 'el', 'qui', 'dan', 'pe', 'zo', 'bri', 'nax', 'ul', 'gor', 'fi', 'hel', 'yam', 'ost', 'de', 'ru', 'wen', 'cal'];

/** Builds the vocabulary: the common words, then pseudo-words of two to four syllables. */
export function buildVocabulary(size: number, random: () => number): string[] {
  const words = [...COMMON_WORDS];
  const seen = new Set(words);
  while (words.length < size) {
    const syllables = 2 + Math.floor(random() * 3);
    let word = '';
    for (let index = 0; index < syllables; index += 1) word += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    if (seen.has(word)) continue;
    seen.add(word);
    words.push(word);
  }
  return words;
}

/** Size of the table that maps a uniform number to a Zipf rank in one lookup. */
const SAMPLER_SLOTS = 1 << 20;

/** Returns a sampler of word ranks (0-based) with probability proportional to 1 / (rank + 1). */
export function zipfSampler(size: number, random: () => number): () => number {
  let harmonic = 0;
  for (let rank = 1; rank <= size; rank += 1) harmonic += 1 / rank;
  const table = new Uint32Array(SAMPLER_SLOTS);
  let cumulative = 0;
  let rank = 0;
  for (let slot = 0; slot < SAMPLER_SLOTS; slot += 1) {
    const target = (slot + 0.5) / SAMPLER_SLOTS;
    while (rank < size - 1 && cumulative + 1 / (rank + 1) / harmonic < target) {
      cumulative += 1 / (rank + 1) / harmonic;
      rank += 1;
    }
    table[slot] = rank;
  }
  return () => table[Math.floor(random() * SAMPLER_SLOTS)]!;
}

/** The phrase planted in one message in 200, for phrase queries. */
export const PLANTED_PHRASE = 'release candidate';

/** Builds one message of about `bytes` characters, with sentence capitals and full stops. */
export function buildMessage(words: readonly string[], sample: () => number, random: () => number, bytes: number): string {
  const parts: string[] = [];
  let length = 0;
  let sentenceStart = true;
  if (random() < 1 / 200) {
    parts.push(PLANTED_PHRASE);
    length += PLANTED_PHRASE.length + 1;
  }
  while (length < bytes) {
    let word = words[sample()]!;
    if (sentenceStart) word = word[0]!.toUpperCase() + word.slice(1);
    sentenceStart = random() < 0.08;
    if (sentenceStart) word += '.';
    parts.push(word);
    length += word.length + 1;
  }
  return parts.join(' ');
}
