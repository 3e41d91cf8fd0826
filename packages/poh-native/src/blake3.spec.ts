import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type Blake3Kernel, type Blake3Native, loadBlake3Native } from "./index.js";

/**
 * The official BLAKE3 test vectors (BLAKE3-team/BLAKE3, test_vectors/test_vectors.json), hash mode: the input
 * is `length` bytes of 0, 1, …, 250, 0, 1, …; the output is 131 bytes of extended output.
 */
const OFFICIAL_VECTORS: readonly (readonly [number, string])[] = [
  [
    0,
    "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262e00f03e7b69af26b7faaf09fcd333050338ddfe085b8cc869ca98b206c08243a26f5487789e8f660afe6c99ef9e0c52b92e7393024a80459cf91f476f9ffdbda7001c22e159b402631f277ca96f2defdf1078282314e763699a31c5363165421cce14d",
  ],
  [
    1,
    "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213c3a6cb8bf623e20cdb535f8d1a5ffb86342d9c0b64aca3bce1d31f60adfa137b358ad4d79f97b47c3d5e79f179df87a3b9776ef8325f8329886ba42f07fb138bb502f4081cbcec3195c5871e6c23e2cc97d3c69a613eba131e5f1351f3f1da786545e5",
  ],
  [
    8,
    "2351207d04fc16ade43ccab08600939c7c1fa70a5c0aaca76063d04c3228eaeb725d6d46ceed8f785ab9f2f9b06acfe398c6699c6129da084cb531177445a682894f9685eaf836999221d17c9a64a3a057000524cd2823986db378b074290a1a9b93a22e135ed2c14c7e20c6d045cd00b903400374126676ea78874d79f2dd7883cf5c",
  ],
  [
    63,
    "e9bc37a594daad83be9470df7f7b3798297c3d834ce80ba85d6e207627b7db7b1197012b1e7d9af4d7cb7bdd1f3bb49a90a9b5dec3ea2bbc6eaebce77f4e470cbf4687093b5352f04e4a4570fba233164e6acc36900e35d185886a827f7ea9bdc1e5c3ce88b095a200e62c10c043b3e9bc6cb9b6ac4dfa51794b02ace9f98779040755",
  ],
  [
    64,
    "4eed7141ea4a5cd4b788606bd23f46e212af9cacebacdc7d1f4c6dc7f2511b98fc9cc56cb831ffe33ea8e7e1d1df09b26efd2767670066aa82d023b1dfe8ab1b2b7fbb5b97592d46ffe3e05a6a9b592e2949c74160e4674301bc3f97e04903f8c6cf95b863174c33228924cdef7ae47559b10b294acd660666c4538833582b43f82d74",
  ],
  [
    65,
    "de1e5fa0be70df6d2be8fffd0e99ceaa8eb6e8c93a63f2d8d1c30ecb6b263dee0e16e0a4749d6811dd1d6d1265c29729b1b75a9ac346cf93f0e1d7296dfcfd4313b3a227faaaaf7757cc95b4e87a49be3b8a270a12020233509b1c3632b3485eef309d0abc4a4a696c9decc6e90454b53b000f456a3f10079072baaf7a981653221f2c",
  ],
  [
    127,
    "d81293fda863f008c09e92fc382a81f5a0b4a1251cba1634016a0f86a6bd640de3137d477156d1fde56b0cf36f8ef18b44b2d79897bece12227539ac9ae0a5119da47644d934d26e74dc316145dcb8bb69ac3f2e05c242dd6ee06484fcb0e956dc44355b452c5e2bbb5e2b66e99f5dd443d0cbcaaafd4beebaed24ae2f8bb672bcef78",
  ],
  [
    128,
    "f17e570564b26578c33bb7f44643f539624b05df1a76c81f30acd548c44b45efa69faba091427f9c5c4caa873aa07828651f19c55bad85c47d1368b11c6fd99e47ecba5820a0325984d74fe3e4058494ca12e3f1d3293d0010a9722f7dee64f71246f75e9361f44cc8e214a100650db1313ff76a9f93ec6e84edb7add1cb4a95019b0c",
  ],
  [
    129,
    "683aaae9f3c5ba37eaaf072aed0f9e30bac0865137bae68b1fde4ca2aebdcb12f96ffa7b36dd78ba321be7e842d364a62a42e3746681c8bace18a4a8a79649285c7127bf8febf125be9de39586d251f0d41da20980b70d35e3dac0eee59e468a894fa7e6a07129aaad09855f6ad4801512a116ba2b7841e6cfc99ad77594a8f2d181a7",
  ],
  [
    1023,
    "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11a182d27a591b05592b15607500e1e8dd56bc6c7fc063715b7a1d737df5bad3339c56778957d870eb9717b57ea3d9fb68d1b55127bba6a906a4a24bbd5acb2d123a37b28f9e9a81bbaae360d58f85e5fc9d75f7c370a0cc09b6522d9c8d822f2f28f485",
  ],
  [
    1024,
    "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af71cf8107265ecdaf8505b95d8fcec83a98a6a96ea5109d2c179c47a387ffbb404756f6eeae7883b446b70ebb144527c2075ab8ab204c0086bb22b7c93d465efc57f8d917f0b385c6df265e77003b85102967486ed57db5c5ca170ba441427ed9afa684e",
  ],
  [
    1025,
    "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444f4c4a22b4b399155358a994e52bf255de60035742ec71bd08ac275a1b51cc6bfe332b0ef84b409108cda080e6269ed4b3e2c3f7d722aa4cdc98d16deb554e5627be8f955c98e1d5f9565a9194cad0c4285f93700062d9595adb992ae68ff12800ab67a",
  ],
  [
    2048,
    "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a9a60bf80001410ec9eea6698cd537939fad4749edd484cb541aced55cd9bf54764d063f23f6f1e32e12958ba5cfeb1bf618ad094266d4fc3c968c2088f677454c288c67ba0dba337b9d91c7e1ba586dc9a5bc2d5e90c14f53a8863ac75655461cea8f9",
  ],
  [
    2049,
    "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b687952256303096de31d71d74103403822a2e0bc1eb193e7aecc9643a76b7bbc0c9f9c52e8783aae98764ca468962b5c2ec92f0c74eb5448d519713e09413719431c802f948dd5d90425a4ecdadece9eb178d80f26efccae630734dff63340285adec2aed3b51073ad3",
  ],
  [
    3072,
    "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd29a3f6b0b978d6608335c09dc94ccf682f9951cdfc501bfe47b9c9189a6fc7b404d120258506341a6d802857322fbd20d3e5dae05b95c88793fa83db1cb08e7d8008d1599b6209d78336e24839724c191b2a52a80448306e0daa84a3fdb566661a37e11",
  ],
  [
    3073,
    "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd39a27ae3b79d68d89da9bf25bc27139ae65a324918a5f9b7828181e52cf373c84f35b639b7fccbb985b6f2fa56aea0c18f531203497b8bbd3a07ceb5926f1cab74d14bd66486d9a91eba99059a98bd1cd25876b2af5a76c3e9eed554ed72ea952b603bf",
  ],
  [
    4096,
    "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e9690289e9409ddb1b99768eafe1623da896faf7e1114bebeadc1be30829b6f8af707d85c298f4f0ff4d9438aef948335612ae921e76d411c3a9111df62d27eaf871959ae0062b5492a0feb98ef3ed4af277f5395172dbe5c311918ea0074ce0036454f620",
  ],
  [
    4097,
    "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb99505f91b0b5600a11251652eacfa9497b31cd3c409ce2e45cfe6c0a016967316c426bd26f619eab5d70af9a418b845c608840390f361630bd497b1ab44019316357c61dbe091ce72fc16dc340ac3d6e009e050b3adac4b5b2c92e722cffdc46501531956",
  ],
  [
    7169,
    "a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e781798a8b20534be1ca9eb2ae2df3fae2ea60e48c6fb0b850b1385b5de0fe460dbe9d9f9b0d8db4435da75c601156df9d047f4ede008732eb17adc05d96180f8a73548522840779e6062d643b79478a6e8dbce68927f36ebf676ffa7d72d5f68f050b119c8",
  ],
  [
    8193,
    "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3bb2282aa69be089359ea1154b9a9286c4a56af4de975a9aa4a5c497654914d279bea60bb6d2cf7225a2fa0ff5ef56bbe4b149f3ed15860f78b4e2ad04e158e375c1e0c0b551cd7dfc82f1b155c11b6b3ed51ec9edb30d133653bb5709d1dbd55f4e1ff6",
  ],
  [
    16384,
    "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde49d764c270176e53e97bdffa58d549073f2c660be0e81293767ed4e4929f9ad34bbb39a529334c57c4a381ffd2a6d4bfdbf1482651b172aa883cc13408fa67758a3e47503f93f87720a3177325f7823251b85275f64636a8f1d599c2e49722f42e93893",
  ],
  [
    31744,
    "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47860cc51f2b0c28a7b77304bd55fe73af663c02d3f52ea053ba43431ca5bab7bfea2f5e9d7121770d88f70ae9649ea713087d1914f7f312147e247f87eb2d4ffef0ac978bf7b6579d57d533355aa20b8b77b13fd09748728a5cc327a8ec470f4013226f",
  ],
  [
    102400,
    "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085e01c59dab908c04c3342b816941a26d69c2605ebee5ec5291cc55e15b76146e6745f0601156c3596cb75065a9c57f35585a52e1ac70f69131c23d611ce11ee4ab1ec2c009012d236648e77be9295dd0426f29b764d65de58eb7d01dd42248204f45f8e",
  ],
];

const officialInput = (length: number) => Uint8Array.from({ length }, (_, i) => i % 251);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const ELEMENT_BYTES = 2048;
const INPUT_BYTES = 40;

/** The lattice sum written out lane by lane from the elements, as SIMD-0215 states it. */
function referenceApply(lanes: Uint16Array, elements: Uint8Array, negate: Uint8Array): Uint16Array {
  const view = new DataView(elements.buffer, elements.byteOffset, elements.byteLength);
  const result = Uint16Array.from(lanes);
  negate.forEach((flag, e) => {
    for (let i = 0; i < 1024; i++) {
      const lane = view.getUint16(e * ELEMENT_BYTES + 2 * i, true);
      result[i] = (result[i]! + (flag !== 0 ? 65_536 - lane : lane)) % 65_536;
    }
  });
  return result;
}

const randomLanes = () => new Uint16Array(Uint8Array.from(randomBytes(2048)).buffer);

const load = loadBlake3Native();

describe("loadBlake3Native", () => {
  it("returns the addon's BLAKE3 or the reason it has none, and the same answer every time", () => {
    expect(load.native === null).toBe(load.error !== null);
    expect(loadBlake3Native()).toBe(load);
    if (load.native) expect(load.native.kernels).toEqual(expect.arrayContaining(["simd128", "portable"]));
  });
});

describe.runIf(load.native !== null)("the addon's BLAKE3", () => {
  const native = load.native as Blake3Native;
  const kernels: readonly Blake3Kernel[] = native.kernels;

  it.each(kernels)("%s: matches the official test vectors (131 bytes, and the first 32 alone)", (kernel) => {
    for (const [length, expected] of OFFICIAL_VECTORS) {
      const input = officialInput(length);
      const long = new Uint8Array(131);
      const short = new Uint8Array(32);
      native.hash(input, long, kernel);
      native.hash(input, short, kernel);
      expect([length, hex(long)]).toEqual([length, expected]);
      expect(hex(short)).toBe(expected.slice(0, 64));
    }
  });

  it.each(kernels)(
    "%s: equals the portable kernel for every output length, each a prefix of the longer",
    (kernel) => {
      for (const inputLength of [0, 1, 40, 64, 65, 1024, 1025, 5000]) {
        const input = randomBytes(inputLength);
        const reference = new Uint8Array(4100);
        native.hash(input, reference, "portable");
        for (const outLength of [0, 1, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 2048, 4100]) {
          const out = new Uint8Array(outLength);
          native.hash(input, out, kernel);
          expect(hex(out)).toBe(hex(reference.subarray(0, outLength)));
        }
      }
    },
  );

  it.each(kernels)(
    "%s: a lattice element is 2048 bytes of BLAKE3 output, for every input length up to 64",
    (kernel) => {
      for (let inputLength = 1; inputLength <= 64; inputLength++) {
        const inputs = randomBytes(3 * inputLength);
        const out = new Uint8Array(3 * ELEMENT_BYTES);
        native.latticeElements(inputs, inputLength, out, kernel);
        for (let e = 0; e < 3; e++) {
          const expected = new Uint8Array(ELEMENT_BYTES);
          native.hash(inputs.subarray(e * inputLength, (e + 1) * inputLength), expected, "portable");
          expect(hex(out.subarray(e * ELEMENT_BYTES, (e + 1) * ELEMENT_BYTES))).toBe(hex(expected));
        }
      }
    },
  );

  it.each(kernels)("%s: latticeApply adds and subtracts elements lane by lane modulo 2^16", (kernel) => {
    for (const count of [0, 1, 2, 7, 33]) {
      const inputs = randomBytes(count * INPUT_BYTES);
      const negate = Uint8Array.from({ length: count }, (_, i) => (i % 3 === 1 ? 1 : 0));
      const elements = new Uint8Array(count * ELEMENT_BYTES);
      native.latticeElements(inputs, INPUT_BYTES, elements, "portable");
      const lanes = randomLanes();
      const expected = referenceApply(lanes, elements, negate);
      native.latticeApply(lanes, inputs, INPUT_BYTES, negate, kernel);
      expect(Array.from(lanes)).toEqual(Array.from(expected));
    }
  });

  it.each(kernels)("%s: adding then subtracting the same elements restores the lanes", (kernel) => {
    const inputs = randomBytes(20 * INPUT_BYTES);
    const lanes = randomLanes();
    const before = Uint16Array.from(lanes);
    native.latticeApply(lanes, inputs, INPUT_BYTES, new Uint8Array(20), kernel);
    expect(Array.from(lanes)).not.toEqual(Array.from(before));
    native.latticeApply(lanes, inputs, INPUT_BYTES, new Uint8Array(20).fill(1), kernel);
    expect(Array.from(lanes)).toEqual(Array.from(before));
  });

  it("rejects bad arguments with a TypeError or RangeError and writes nothing", () => {
    const lanes = new Uint16Array(1024).fill(7);
    const inputs = randomBytes(2 * INPUT_BYTES);
    const negate = new Uint8Array(2);
    const apply =
      (...args: Parameters<Blake3Native["latticeApply"]>) =>
      () =>
        native.latticeApply(...args);
    expect(apply(new Uint16Array(1023), inputs, INPUT_BYTES, negate, "portable")).toThrow(RangeError);
    expect(
      apply(new Uint8Array(2048) as unknown as Uint16Array, inputs, INPUT_BYTES, negate, "portable"),
    ).toThrow(TypeError);
    expect(apply(lanes, inputs.subarray(1), INPUT_BYTES, negate, "portable")).toThrow(RangeError);
    expect(apply(lanes, inputs, 0, negate, "portable")).toThrow(RangeError);
    expect(apply(lanes, inputs, 65, negate, "portable")).toThrow(RangeError);
    expect(apply(lanes, inputs, 1.5, negate, "portable")).toThrow(RangeError);
    expect(apply(lanes, inputs, INPUT_BYTES, new Uint8Array(3), "portable")).toThrow(RangeError);
    expect(apply(lanes, inputs, INPUT_BYTES, negate, "sha3" as Blake3Kernel)).toThrow(TypeError);
    const shared = new Uint16Array(1024 + 40);
    const overlapping = new Uint8Array(shared.buffer, 2000, 80);
    expect(apply(shared.subarray(0, 1024), overlapping, INPUT_BYTES, negate, "portable")).toThrow(RangeError);
    expect(Array.from(lanes)).toEqual(new Array(1024).fill(7));

    const out = new Uint8Array(2 * ELEMENT_BYTES);
    expect(() => native.latticeElements(inputs, INPUT_BYTES, out.subarray(1), "portable")).toThrow(
      RangeError,
    );
    expect(() => native.latticeElements(out.subarray(0, 80), INPUT_BYTES, out, "portable")).toThrow(
      RangeError,
    );
    expect(() => native.hash([1, 2] as unknown as Uint8Array, new Uint8Array(32), "portable")).toThrow(
      TypeError,
    );
    expect(out.every((byte) => byte === 0)).toBe(true);
  });
});
