/**
 * The tokenizer interface shared by the byte tokenizer (mini profile) and T5's
 * SentencePiece tokenizer (paper profile), plus the reference's truncation.
 *
 * Conventions are T5's: pad = 0, eos = 1, `encode` appends EOS (HF
 * `add_special_tokens=True`), `decode` drops special ids (pad, eos, unk and
 * sentinel ids; HF `skip_special_tokens=True`).
 */

export interface Tokenizer {
  readonly kind: string;
  /** number of ids the tokenizer can produce (the model's vocabulary may be padded beyond it) */
  readonly vocabSize: number;
  readonly padId: 0;
  readonly eosId: 1;
  /** token ids of `text` followed by EOS */
  encode(text: string): number[];
  /** text of `ids`, special ids dropped */
  decode(ids: ArrayLike<number>): string;
}

/** Counts sequences cut to the maximum length, for one summary warning. */
export class TruncationStats {
  truncated = 0;
  total = 0;
  longest = 0;

  record(length: number, maxLength: number): boolean {
    this.total++;
    this.longest = Math.max(this.longest, length);
    if (length > maxLength) {
      this.truncated++;
      return true;
    }
    return false;
  }

  /** One line such as "GLUE rte train: 3 of 2490 inputs longer than 128 tokens were truncated (longest 211)", or null. */
  summary(where: string, maxLength: number): string | null {
    if (this.truncated === 0) return null;
    return `${where}: ${this.truncated} of ${this.total} sequences longer than ${maxLength} tokens were truncated (longest ${this.longest}; option maxLength)`;
  }
}

/**
 * Encodes with the reference's truncation (`prepare_seq2seq_batch`, max_length
 * 128, truncation=True): at most `maxLength` ids, the last one still EOS —
 * ids[:maxLength-1] + [eos] — as transformers truncates before adding EOS.
 */
export function encodeTruncated(tok: Tokenizer, text: string, maxLength = 128, stats?: TruncationStats): number[] {
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new Error(`encodeTruncated: option maxLength must be an integer ≥ 1, got ${maxLength}`);
  const ids = tok.encode(text);
  const cut = stats ? stats.record(ids.length, maxLength) : ids.length > maxLength;
  if (!cut) return ids;
  const out = ids.slice(0, maxLength - 1);
  out.push(tok.eosId);
  return out;
}
