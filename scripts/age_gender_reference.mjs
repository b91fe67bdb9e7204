// Reference run of face-api.js's AgeGenderNet with the package's own code, for docs/age_gender.md.
//
//   node scripts/age_gender_reference.mjs <node_modules folder> <crops.json> <out.json>
//
// <node_modules folder>: where `npm install vladmandic-face-api-1.7.15.tgz` put the package
// (scripts/compare_age_gender.py makes one in a temporary folder).  <crops.json>:
// [{"name", "height", "width", "rgb": base64 of uint8 H x W x 3}].  Writes
// [{"name", "age", "male"}] with male = P(male) as the package reports it.
//
// The package's browser bundle (dist/face-api.js, TensorFlow.js 4.22 with its pure-JS "cpu"
// backend inside) is evaluated in a vm context without Node's `process`: its Node platform shim
// needs the `util` module that the bundle stubs out, so under plain Node it stops at import.
// Weights are read from the package's model folder by its own NeuralNetwork.loadFromDisk; each
// crop goes through predictAgeAndGender.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

const [modules, cropsFile, outFile] = process.argv.slice(2);
if (!outFile) {
  console.error('usage: node age_gender_reference.mjs <node_modules> <crops.json> <out.json>');
  process.exit(2);
}
const root = path.join(modules, '@vladmandic', 'face-api');
const bundle = path.join(root, 'dist', 'face-api.js');
const modelDir = path.join(root, 'model');

const context = vm.createContext({
  console, setTimeout, clearTimeout, TextEncoder, TextDecoder, performance,
  Float32Array, Int32Array, Uint8Array, Uint8ClampedArray, ArrayBuffer, DataView,
});
vm.runInContext('globalThis.self = globalThis;', context);
vm.runInContext(`${fs.readFileSync(bundle, 'utf8')}\n;globalThis.faceapi = faceapi;`, context, { filename: bundle });
const { faceapi } = context;
const { tf } = faceapi;
// No platform was registered (neither browser nor Node was detected): give TensorFlow.js the
// few services it asks of one.  Only local files are read, so there is no fetch.
tf.setPlatform('vm', {
  fetch: () => { throw new Error('no network in the reference run'); },
  now: () => performance.now(),
  encode: (text) => new TextEncoder().encode(text),
  decode: (bytes, encoding) => new TextDecoder(encoding).decode(bytes),
  isTypedArray: (a) => ArrayBuffer.isView(a) && !(a instanceof DataView),
  setTimeoutCustom: (fn, ms) => setTimeout(fn, ms),
});
await tf.setBackend('cpu');
await tf.ready();

// face-api's environment: what its createNodejsEnv() gives under Node without a canvas package
// (placeholder media classes; only tensors are passed in) and its file system on Node's fs.
faceapi.env.setEnv({
  Canvas: class {}, CanvasRenderingContext2D: class {}, Image: class {}, ImageData: class {}, Video: class {},
  createCanvasElement: () => { throw new Error('no canvas'); },
  createImageElement: () => { throw new Error('no image element'); },
  createVideoElement: () => { throw new Error('no video element'); },
  fetch: undefined,
  ...faceapi.env.createFileSystem(fs),
});
const net = new faceapi.AgeGenderNet();
await net.loadFromDisk(modelDir);

const crops = JSON.parse(fs.readFileSync(cropsFile, 'utf8'));
const out = [];
for (const crop of crops) {
  const pixels = Uint8Array.from(Buffer.from(crop.rgb, 'base64'));
  const image = tf.tensor3d(pixels, [crop.height, crop.width, 3], 'int32');
  const { age, gender, genderProbability } = await net.predictAgeAndGender(image);
  image.dispose();
  out.push({ name: crop.name, age, male: gender === 'male' ? genderProbability : 1 - genderProbability });
}
fs.writeFileSync(outFile, JSON.stringify({
  package: `@vladmandic/face-api@${faceapi.version}`, tfjs: tf.version_core, backend: tf.getBackend(), results: out,
}, null, 1));
console.log(`${out.length} crops scored with face-api ${faceapi.version}, tfjs ${tf.version_core} (${tf.getBackend()})`);
