// Generates src/gen/jobd_pb.js and src/gen/jobd_pb.d.ts from
// ../../proto/jobd.proto with protoc and @bufbuild/protoc-gen-es
// (target js+dts). Run by `npm install` / `npm ci` (prepare) and before the
// tests; the generated files are never committed. PROTOC in the environment
// names the protoc to use (default: `protoc` on PATH, Debian's protobuf-compiler).
import { spawnSync } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, '..', '..', 'proto');
const out = join(root, 'src', 'gen');
const plugin = join(root, 'node_modules', '.bin', 'protoc-gen-es');

if (!existsSync(join(protoDir, 'jobd.proto'))) {
  console.error(`generate: cannot find '${join(protoDir, 'jobd.proto')}'`);
  process.exit(1);
}
if (!existsSync(plugin)) {
  console.error(`generate: cannot find '${plugin}': run npm install (or npm ci) first`);
  process.exit(1);
}
mkdirSync(out, { recursive: true });
const protoc = process.env.PROTOC || 'protoc';
const r = spawnSync(protoc, [
  `--plugin=protoc-gen-es=${plugin}`,
  `--es_out=${out}`,
  '--es_opt=target=js+dts,import_extension=js',
  `--proto_path=${protoDir}`,
  'jobd.proto',
], { stdio: 'inherit' });
if (r.error) {
  console.error(`generate: cannot run '${protoc}': ${r.error.message} (install protobuf-compiler)`);
  process.exit(1);
}
process.exit(r.status ?? 1);
