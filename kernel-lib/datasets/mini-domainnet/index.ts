/** The embedded mini DomainNet (real MNIST digits in six styled, re-oriented domains). See ./generate.ts. */
export * from './generate';
export { placeDigit, transformSquare, domainId, MNIST_SIDE } from './render';
export { loadMnistDigits, splitSources, digitPixels, TEST_POOL_FRACTION } from './mnist-source';
export type { MnistClass, SourceSplit } from './mnist-source';
