import { readFileSync } from "node:fs";
import path from "node:path";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

// The exact FileDescriptorProtos of saga.v1, its imports (google/protobuf/*)
// and grpc.health.v1, as `buf build` compiles them at build time
// (descriptors/*.binpb). Server reflection serves these bytes as they are:
// descriptors rebuilt from a parsed .proto (what @grpc/reflection does with a
// proto-loader definition) lose the imports of well-known types and name map
// entries differently from protoc, and grpcurl then cannot describe or call
// anything.

const DESCRIPTOR_SETS = ["saga.binpb", "health.binpb"];

/** Each file of the descriptor sets, encoded as a FileDescriptorProto; one per file name. */
export function fileDescriptorProtos(): Buffer[] {
  const dir = path.resolve(import.meta.dirname, "../descriptors");
  const files = new Map<string, Buffer>();
  for (const set of DESCRIPTOR_SETS) {
    for (const file of filesOf(readFileSync(path.join(dir, set)))) {
      const name = fileName(file);
      if (!files.has(name)) files.set(name, file);
    }
  }
  return [...files.values()];
}

/** The `file` entries (field 1) of a FileDescriptorSet. */
function filesOf(set: Uint8Array): Buffer[] {
  const reader = new BinaryReader(set);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  return files;
}

/** A FileDescriptorProto's name (field 1). */
function fileName(file: Uint8Array): string {
  const reader = new BinaryReader(file);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) return reader.string();
    reader.skip(wireType);
  }
  return "";
}
