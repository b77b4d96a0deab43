/**
 * Binary tensor extension requests for tests: the encoder of elements into the binary layout (the
 * API only decodes them) and the one builder of the `simple` model's binary request.
 */
import { DATATYPE_SIZE, type Datatype } from '../../contracts/model-signature';
import { encodeBytesElements, joinBinaryBody } from '../../functions/inference/binary-tensors';

const utf8 = new TextEncoder();

/**
 * A tensor's elements as binary data, the inverse of `decodeBinaryTensor`: numbers or bigints for
 * integers, numbers for floats (FP16 rounded to nearest, ties to even), booleans (or 0/1) for BOOL,
 * strings (UTF-8) or byte arrays for BYTES.
 */
export function encodeBinaryTensor(
  datatype: Datatype,
  data: ArrayLike<number | bigint | boolean | string | Uint8Array>,
): Uint8Array {
  const count = data.length;
  if (datatype === 'BYTES') {
    return encodeBytesElements(
      Array.from(data, (element) => (element instanceof Uint8Array ? element : utf8.encode(String(element)))),
    );
  }
  const size = DATATYPE_SIZE[datatype];
  const out = new Uint8Array(count * size);
  const view = new DataView(out.buffer);
  const number = (i: number) => Number(data[i]);
  const bigint = (i: number) => {
    const value = data[i];
    return typeof value === 'bigint' ? value : BigInt(Number(value));
  };
  for (let i = 0; i < count; i++) {
    const at = i * size;
    switch (datatype) {
      case 'BOOL':
        view.setUint8(at, data[i] ? 1 : 0);
        break;
      case 'UINT8':
        view.setUint8(at, number(i));
        break;
      case 'INT8':
        view.setInt8(at, number(i));
        break;
      case 'UINT16':
        view.setUint16(at, number(i), true);
        break;
      case 'INT16':
        view.setInt16(at, number(i), true);
        break;
      case 'UINT32':
        view.setUint32(at, number(i), true);
        break;
      case 'INT32':
        view.setInt32(at, number(i), true);
        break;
      case 'UINT64':
        view.setBigUint64(at, bigint(i), true);
        break;
      case 'INT64':
        view.setBigInt64(at, bigint(i), true);
        break;
      case 'FP16':
        view.setUint16(at, numberToHalf(number(i)), true);
        break;
      case 'FP32':
        view.setFloat32(at, number(i), true);
        break;
      case 'FP64':
        view.setFloat64(at, number(i), true);
        break;
    }
  }
  return out;
}

/**
 * The `simple` model's binary request, as the bench, load runs and tests send it: `input` as both of
 * its 1x16 INT32 inputs, and with `binaryOutputs` both outputs asked for as binary data.
 */
export function simpleBinaryRequest(
  input: readonly number[],
  options: { readonly binaryOutputs: boolean },
): { body: Buffer; headerLength: number } {
  const tensor = encodeBinaryTensor('INT32', input);
  const { body, headerLength } = joinBinaryBody(
    {
      inputs: ['INPUT0', 'INPUT1'].map((name) => ({
        name,
        shape: [1, 16],
        datatype: 'INT32',
        parameters: { binary_data_size: tensor.length },
      })),
      ...(options.binaryOutputs
        ? { outputs: ['OUTPUT0', 'OUTPUT1'].map((name) => ({ name, parameters: { binary_data: true } })) }
        : {}),
    },
    [tensor, tensor],
  );
  return { body: Buffer.from(body.buffer, body.byteOffset, body.byteLength), headerLength };
}

/** A number to IEEE 754 half-precision bits, rounded to nearest with ties to even (from the double, never via FP32). */
function numberToHalf(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  // 65504 is the largest half; from halfway to the next step (65520) up, it rounds to infinity.
  if (magnitude >= 65520) return sign | 0x7c00;
  // Subnormal: a multiple of 2^-24; a carry into 1024 is the smallest normal, as the bits show.
  if (magnitude < 2 ** -14) return sign | roundHalfEven(magnitude * 2 ** 24);
  let exponent = Math.floor(Math.log2(magnitude));
  if (2 ** exponent > magnitude) exponent--;
  else if (2 ** (exponent + 1) <= magnitude) exponent++;
  // Scaling by powers of two is exact, so the only rounding is this one; a carry bumps the exponent.
  const fraction = roundHalfEven((magnitude / 2 ** exponent - 1) * 1024);
  return sign | (((exponent + 15) << 10) + fraction);
}

function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest > 0.5 || (rest === 0.5 && floor % 2 === 1)) return floor + 1;
  return floor;
}

/**
 * A binary answer split into its JSON header and each binary output's bytes (copies), by name.
 * Throws unless every byte after the header belongs to an output, in header order.
 */
export function splitBinaryAnswer<Header extends { outputs: readonly BinaryOutputHeader[] }>(
  body: Uint8Array,
  headerLength: number,
): { header: Header; sections: Map<string, Uint8Array> } {
  const header = JSON.parse(new TextDecoder().decode(body.subarray(0, headerLength))) as Header;
  const sections = new Map<string, Uint8Array>();
  let offset = headerLength;
  for (const output of header.outputs) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    sections.set(output.name, body.slice(offset, offset + size));
    offset += size;
  }
  if (offset !== body.byteLength) {
    throw new Error(
      `the answer's outputs declare ${offset - headerLength} bytes of binary data, but ${body.byteLength - headerLength} follow its JSON header`,
    );
  }
  return { header, sections };
}

interface BinaryOutputHeader {
  readonly name: string;
  readonly parameters?: { readonly binary_data_size?: number };
}
