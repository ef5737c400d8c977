// Read the committed reference goldens (safetensors + json) in Node, to compare what the page draws with what
// transformers computed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './harness.mjs';

export function loadGolden(dir, name = 'golden') {
  const base = join(REPO, 'tests/fixtures', dir);
  const json = JSON.parse(readFileSync(join(base, `${name}.json`), 'utf8'));
  const buf = readFileSync(join(base, `${name}.safetensors`));
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  const data = buf.subarray(8 + headerLen);
  const tensor = (name) => {
    const t = header[name];
    if (!t || t.dtype !== 'F32') throw new Error(`no F32 tensor ${name}`);
    const [s, e] = t.data_offsets;
    const copy = Buffer.from(data.subarray(s, e));
    return { shape: t.shape, values: new Float32Array(copy.buffer, copy.byteOffset, (e - s) / 4) };
  };
  return { json, tensor };
}

/** attn[layer][head][from][to] from a [L, H, n, n] tensor. */
export function attention(t, layer, head, from, to) {
  const [, H, n] = t.shape;
  return t.values[((layer * H + head) * n + from) * n + to];
}
