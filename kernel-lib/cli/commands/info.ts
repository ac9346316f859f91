/** `smear info [--json]`: the compute backend in use, versions, threads. */
import * as os from 'os';
import { initBackend } from '../../backend';
import type { Command } from '../command';

export const infoCommand: Command = {
  name: 'info',
  summary: 'show the compute backend in use, versions and threads',
  usage: 'smear info [--json]   (SMEAR_BACKEND=gpu|webgpu|tensorflow|wasm|cpu forces a backend)',
  options: { json: { type: 'boolean', description: 'print JSON for machines' } },
  async run({ values }) {
    const info = await initBackend({ quiet: true });
    const machine = { platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?' };
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ...info, machine }, null, 2)}\n`);
      return 0;
    }
    const lines = [
      `backend:   ${info.name} (tf.getBackend() = '${info.tfBackend}', package ${info.package}${info.forced ? ', forced by SMEAR_BACKEND' : ''})`,
      `threads:   ${info.threads}${info.name === 'wasm' ? ` (SIMD ${info.simd ? 'on' : 'off'})` : ''}`,
      `versions:  ${Object.entries(info.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      `machine:   ${machine.platform}, ${machine.cpus} CPUs (${machine.cpuModel})`,
    ];
    if (info.adapter) {
      const a = info.adapter;
      lines.splice(1, 1, `adapter:   ${[a.vendor, a.architecture, a.device, a.description].filter((s) => s).join(' / ')}${a.software ? ' (software)' : ''}`);
      lines.push(`limits:    maxBufferSize ${a.limits.maxBufferSize} B, maxStorageBufferBindingSize ${a.limits.maxStorageBufferBindingSize} B`);
      if (a.icd) lines.push(`vulkan:    ICD ${a.icd}`);
    }
    if (info.skipped.length) {
      lines.push('skipped:');
      for (const s of info.skipped) lines.push(`  ${s.name.padEnd(10)} ${s.reason}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};
