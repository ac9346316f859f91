/**
 * T5's tokenizer from local files only (no download):
 * - `spiece.model` (a SentencePiece ModelProto, what HF's slow T5Tokenizer —
 *   the one transformers 3.5's AutoTokenizer gives the reference — reads),
 *   run by @sctg/sentencepiece-js (SentencePiece compiled to WebAssembly;
 *   ESM-only, loaded with a native dynamic import);
 * - or `tokenizer.json` (HF fast-tokenizer format: T5's is a Unigram model
 *   with a Metaspace pre-tokenizer), run by @huggingface/tokenizers.
 * `path` may be either file or a folder holding one (spiece.model preferred).
 *
 * T5 conventions are checked: `<pad>` = 0, `</s>` = 1, `<unk>` = 2 (option
 * `checkSpecialIds: false` skips the check, e.g. for another model in tests).
 * vocabSize = pieces + `extraIds` sentinels (`<extra_id_0>` = vocabSize − 1,
 * as HF assigns them; default 100, so 32,100 for T5 — the model's embedding
 * has 32,128 rows). encode appends EOS; decode drops pad/eos/unk/sentinels and,
 * like HF's default `clean_up_tokenization_spaces`, removes the spaces
 * transformers removes (" ." → ".", " n't" → "n't", …).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { importEsm } from './esm';
import type { Tokenizer } from './types';

export interface SentencePiece {
  piece: string;
  score: number;
  /** 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte */
  type: number;
}

/** Reads the pieces of a SentencePiece ModelProto (protobuf field 1); throws if the bytes are not one. */
export function parseSentencePieceModel(buf: Uint8Array, file = '<model>'): SentencePiece[] {
  let p = 0;
  const bad = (msg: string): never => {
    throw new Error(`${file}: not a SentencePiece model (${msg} at byte ${p})`);
  };
  const varint = (end: number): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= end) bad('truncated varint');
      const b = buf[p++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    return bad('varint too long');
  };
  const skip = (wire: number, end: number): void => {
    if (wire === 0) varint(end);
    else if (wire === 1) p += 8;
    else if (wire === 2) {
      const len = varint(end); // (not `p += varint(end)`: that would add to p's value before the call)
      p += len;
    }
    else if (wire === 5) p += 4;
    else bad(`wire type ${wire}`);
    if (p > end) bad('field past the end');
  };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const pieces: SentencePiece[] = [];
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  while (p < buf.length) {
    const key = varint(buf.length);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 1) {
      if (wire !== 2) bad('pieces field with wrong wire type');
      const len = varint(buf.length);
      const end = p + len;
      if (end > buf.length) bad('piece past the end');
      const sp: SentencePiece = { piece: '', score: 0, type: 1 };
      let hasPiece = false;
      while (p < end) {
        const k = varint(end);
        const f = Math.floor(k / 8);
        const w = k & 7;
        if (f === 1 && w === 2) {
          const l = varint(end);
          if (p + l > end) bad('piece string past the end');
          try {
            sp.piece = utf8.decode(buf.subarray(p, p + l));
          } catch {
            bad('piece is not UTF-8');
          }
          hasPiece = true;
          p += l;
        } else if (f === 2 && w === 5) {
          sp.score = dv.getFloat32(p, true);
          p += 4;
        } else if (f === 3 && w === 0) {
          sp.type = varint(end);
        } else skip(w, end);
      }
      if (!hasPiece) bad('a piece without its string');
      pieces.push(sp);
    } else {
      if (field === 0) bad('field number 0');
      skip(wire, buf.length);
    }
  }
  if (pieces.length === 0) bad('no pieces');
  return pieces;
}

export interface LoadT5TokenizerOptions {
  /** sentinel ids after the pieces (default 100) */
  extraIds?: number;
  /** require <pad>=0, </s>=1, <unk>=2 (default true) */
  checkSpecialIds?: boolean;
  /** HF's clean_up_tokenization_spaces in decode (default true) */
  cleanUpSpaces?: boolean;
}

/** transformers' `clean_up_tokenization`. */
export function cleanUpTokenization(s: string): string {
  return s
    .replace(/ \./g, '.')
    .replace(/ \?/g, '?')
    .replace(/ !/g, '!')
    .replace(/ ,/g, ',')
    .replace(/ ' /g, "'")
    .replace(/ n't/g, "n't")
    .replace(/ 'm/g, "'m")
    .replace(/ 's/g, "'s")
    .replace(/ 've/g, "'ve")
    .replace(/ 're/g, "'re");
}

interface SpProcessor {
  loadFromB64StringModel(b64: string): Promise<void>;
  encodeIds(text: string): number[];
  encodePieces(text: string): string[];
  decodeIds(ids: Int32Array): string;
}
interface SpModule {
  SentencePieceProcessor: new () => SpProcessor;
}

abstract class T5Base implements Tokenizer {
  abstract readonly kind: string;
  readonly padId = 0 as const;
  readonly eosId = 1 as const;
  readonly unkId = 2;
  readonly vocabSize: number;

  constructor(
    readonly pieceCount: number,
    readonly extraIds: number,
    protected readonly cleanUp: boolean,
  ) {
    this.vocabSize = pieceCount + extraIds;
  }

  protected abstract encodeRaw(text: string): number[];
  protected abstract decodeRaw(ids: number[]): string;

  encode(text: string): number[] {
    const ids = this.encodeRaw(text);
    ids.push(this.eosId);
    return ids;
  }

  decode(ids: ArrayLike<number>): string {
    const keep: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id > this.unkId && id < this.pieceCount) keep.push(id);
    }
    const s = keep.length === 0 ? '' : this.decodeRaw(keep);
    return this.cleanUp ? cleanUpTokenization(s) : s;
  }

  /** HF's id of `<extra_id_k>`. */
  sentinelId(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k >= this.extraIds) throw new RangeError(`sentinelId: k must be in [0, ${this.extraIds}), got ${k}`);
    return this.vocabSize - 1 - k;
  }
}

export class SentencePieceT5Tokenizer extends T5Base {
  readonly kind = 'sentencepiece';
  constructor(
    private readonly sp: SpProcessor,
    readonly pieces: SentencePiece[],
    readonly file: string,
    extraIds: number,
    cleanUp: boolean,
  ) {
    super(pieces.length, extraIds, cleanUp);
  }
  protected encodeRaw(text: string): number[] {
    return Array.from(this.sp.encodeIds(text));
  }
  protected decodeRaw(ids: number[]): string {
    return String(this.sp.decodeIds(Int32Array.from(ids)));
  }
  /** pieces of `text` (no EOS) */
  encodePieces(text: string): string[] {
    return Array.from(this.sp.encodePieces(text));
  }
}

export class TokenizersJsonT5Tokenizer extends T5Base {
  readonly kind = 'tokenizer.json';
  constructor(
    private readonly tok: HfTokenizer,
    pieceCount: number,
    readonly file: string,
    extraIds: number,
    cleanUp: boolean,
  ) {
    super(pieceCount, extraIds, cleanUp);
  }
  protected encodeRaw(text: string): number[] {
    return Array.from(this.tok.encode(text, { add_special_tokens: false }).ids);
  }
  protected decodeRaw(ids: number[]): string {
    return this.tok.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }
  /** tokens of `text` (no EOS) */
  tokenize(text: string): string[] {
    return this.tok.tokenize(text, { add_special_tokens: false });
  }
}

function checkSpecials(pieceAt: (id: number) => string | undefined, file: string, check: boolean): void {
  if (!check) return;
  const want: [number, string][] = [[0, '<pad>'], [1, '</s>'], [2, '<unk>']];
  for (const [id, piece] of want) {
    const got = pieceAt(id);
    if (got !== piece) {
      throw new Error(`loadT5Tokenizer: ${file}: id ${id} is ${JSON.stringify(got)}, T5 needs ${piece} (pad 0, eos 1, unk 2); set option checkSpecialIds: false to accept another model`);
    }
  }
}

/** Loads T5's tokenizer from `spiece.model` or `tokenizer.json` (a file, or a folder holding one). Never downloads. */
export async function loadT5Tokenizer(p: string, opts: LoadT5TokenizerOptions = {}): Promise<SentencePieceT5Tokenizer | TokenizersJsonT5Tokenizer> {
  const extraIds = opts.extraIds ?? 100;
  if (!Number.isInteger(extraIds) || extraIds < 0) throw new Error(`loadT5Tokenizer: option extraIds must be an integer ≥ 0, got ${extraIds}`);
  const check = opts.checkSpecialIds ?? true;
  const cleanUp = opts.cleanUpSpaces ?? true;
  let file = p;
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) {
    const cands = ['spiece.model', 'tokenizer.json'].map((f) => path.join(p, f)).filter((f) => fs.existsSync(f));
    if (cands.length === 0) throw new Error(`loadT5Tokenizer: ${p} holds neither spiece.model nor tokenizer.json (nothing is downloaded)`);
    file = cands[0];
  } else if (!fs.existsSync(p)) {
    throw new Error(`loadT5Tokenizer: ${p} does not exist (give a local spiece.model, tokenizer.json, or a folder with one; nothing is downloaded)`);
  }
  if (file.endsWith('.json')) {
    let json: { model?: { type?: string; vocab?: [string, number][] }; added_tokens?: { id: number; content: string }[] };
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`loadT5Tokenizer: ${file}: not valid JSON (${(e as Error).message})`);
    }
    const vocab = json.model?.vocab;
    if (json.model?.type !== 'Unigram' || !Array.isArray(vocab)) {
      throw new Error(`loadT5Tokenizer: ${file}: expected a Unigram model with a vocab list (T5's tokenizer.json), got model type ${JSON.stringify(json.model?.type)}`);
    }
    checkSpecials((id) => vocab[id]?.[0], file, check);
    // T5's tokenizer.json lists the <extra_id_k> sentinels in the vocab too; count the pieces only
    const pieceCount = vocab.filter((v) => !/^<extra_id_\d+>$/.test(v[0])).length;
    const tok = new HfTokenizer(json, {});
    return new TokenizersJsonT5Tokenizer(tok, pieceCount, file, extraIds, cleanUp);
  }
  const bytes = fs.readFileSync(file);
  const pieces = parseSentencePieceModel(bytes, file);
  checkSpecials((id) => pieces[id]?.piece, file, check);
  const mod = await importEsm<SpModule>('@sctg/sentencepiece-js', 'loadT5Tokenizer');
  const sp = new mod.SentencePieceProcessor();
  await sp.loadFromB64StringModel(bytes.toString('base64'));
  return new SentencePieceT5Tokenizer(sp, pieces, file, extraIds, cleanUp);
}
