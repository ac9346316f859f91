/** Image decoding, torchvision-equivalent transforms and the worker-thread batch loader (ResNet18-DomainNet). */
export * from './transforms';
export * from './loader';
