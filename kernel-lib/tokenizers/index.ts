export type { Tokenizer } from './types';
export { TruncationStats, encodeTruncated } from './types';
export { ByteTokenizer, BYTE_OFFSET } from './byte';
export { loadT5Tokenizer, parseSentencePieceModel, cleanUpTokenization, SentencePieceT5Tokenizer, TokenizersJsonT5Tokenizer } from './t5';
export type { LoadT5TokenizerOptions, SentencePiece } from './t5';
export { importEsm } from './esm';
