/**
 * Byte-level tokenizer for the mini profile (ByT5-style): id = UTF-8 byte + 3,
 * with 0 = pad, 1 = eos, 2 = unk; vocabulary 259 (3 specials + 256 bytes).
 * Decoding drops special ids and decodes the bytes as UTF-8; invalid
 * sequences become U+FFFD (ByT5 ignores them instead).
 */
import type { Tokenizer } from './types';

export const BYTE_OFFSET = 3;

export class ByteTokenizer implements Tokenizer {
  readonly kind = 'byte';
  readonly vocabSize = 256 + BYTE_OFFSET;
  readonly padId = 0 as const;
  readonly eosId = 1 as const;
  readonly unkId = 2;
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder('utf-8', { fatal: false });

  encode(text: string): number[] {
    const bytes = this.enc.encode(text);
    const ids = new Array<number>(bytes.length + 1);
    for (let i = 0; i < bytes.length; i++) ids[i] = bytes[i] + BYTE_OFFSET;
    ids[bytes.length] = this.eosId;
    return ids;
  }

  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= BYTE_OFFSET && id < this.vocabSize) bytes.push(id - BYTE_OFFSET);
    }
    return this.dec.decode(Uint8Array.from(bytes));
  }
}
