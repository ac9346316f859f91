/**
 * Side-effect import: registers the gradient of every tfjs kernel.
 * tfjs-core's CommonJS bundle ships the gradient functions unregistered (its
 * `register_all_gradients` is ES-module only); the @tensorflow/tfjs bundle
 * registers them into the same global registry that tfjs-core reads.
 */
import '@tensorflow/tfjs';
