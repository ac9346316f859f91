/**
 * Decode + augment throughput of ImageBatchLoader on synthetic JPEGs (not a test).
 *
 *   node --import tsx kernel-lib/datasets/image/throughput.ts [--images 300] [--side 300]
 *        [--workers 1,2] [--size 224] [--batch 32] [--kind train|eval] [--epochs 2]
 *
 * Writes `--images` synthetic side×side JPEGs (smooth colour fields plus noise, quality 90, like
 * photos in size) to a temporary folder, then for each worker count runs `--epochs` epochs and
 * reports images/s of the last epochs (the first includes worker start-up and is reported apart).
 * Also reports a main-thread, one-image-at-a-time `transformImage` baseline.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../util/rng';
import { ImageBatchLoader, type ImageSample } from './loader';
import { sampleSeed, transformImage, type TransformSpec } from './transforms';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

async function main(): Promise<void> {
  const images = Number(arg('images', '300'));
  const side = Number(arg('side', '300'));
  const workerCounts = arg('workers', '1').split(',').map(Number);
  const size = Number(arg('size', '224'));
  const batchSize = Number(arg('batch', '32'));
  const kind = arg('kind', 'train') as 'train' | 'eval';
  const epochs = Math.max(2, Number(arg('epochs', '2')));
  const spec: TransformSpec = { kind, size };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smear-image-throughput-'));
  try {
    const rng = new Rng(1);
    const samples: ImageSample[] = [];
    let bytes = 0;
    for (let i = 0; i < images; i++) {
      // A smooth random colour field (bilinear upscale of 6×6 noise) plus mild pixel noise.
      const coarse = Buffer.from(rng.uniformInt(6 * 6 * 3, 256));
      const file = path.join(dir, `img${i}.jpg`);
      const field = await sharp(coarse, { raw: { width: 6, height: 6, channels: 3 } })
        .resize(side, side, { kernel: 'linear', fit: 'fill' })
        .raw()
        .toBuffer();
      const noise = rng.uniformInt(field.length, 25);
      for (let k = 0; k < field.length; k++) field[k] = Math.min(255, field[k] + noise[k]);
      await sharp(field, { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 90 }).toFile(file);
      bytes += fs.statSync(file).size;
      samples.push({ path: file, label: i % 10, domain: 0 });
    }
    console.log(`${images} synthetic ${side}×${side} JPEGs (mean ${(bytes / images / 1024).toFixed(1)} KiB), ${kind} ${size}, batch ${batchSize}, ${os.availableParallelism()} cores, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '(unset)'}`);

    // Main-thread baseline: one image at a time.
    const n0 = Math.min(images, 100);
    let t = performance.now();
    for (let i = 0; i < n0; i++) await transformImage(samples[i].path, spec, kind === 'train' ? new Rng(sampleSeed(0, 0, i)) : null);
    let s = (performance.now() - t) / 1000;
    console.log(`main thread, sequential transformImage: ${(n0 / s).toFixed(1)} images/s (${((s / n0) * 1000).toFixed(2)} ms/image)`);

    for (const workers of workerCounts) {
      const loader = new ImageBatchLoader(samples, { batchSize, transform: spec, shuffle: true, seed: 0, workers, prefetch: 2 });
      try {
        for (let e = 0; e < epochs; e++) {
          t = performance.now();
          let n = 0;
          for await (const b of loader.epoch(e)) n += b.labels.length;
          s = (performance.now() - t) / 1000;
          console.log(`workers=${workers} epoch ${e}${e === 0 ? ' (incl. worker start-up)' : ''}: ${n} images in ${s.toFixed(2)} s = ${(n / s).toFixed(1)} images/s`);
        }
      } finally {
        await loader.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
