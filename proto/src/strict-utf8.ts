import { configureTextEncoding, getTextEncoding } from "@bufbuild/protobuf/wire";

/**
 * Makes every protobuf string decoded in this process strict UTF-8: invalid
 * bytes make decoding fail instead of turning into U+FFFD, as proto3 requires
 * (string fields hold valid UTF-8) and as other languages' decoders do. A
 * server then refuses such a request (the coordinator: INVALID_ARGUMENT).
 */
export function decodeStringsStrictly(): void {
  const encoding = getTextEncoding();
  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  configureTextEncoding({ ...encoding, decodeUtf8: (bytes) => strict.decode(bytes) });
}
