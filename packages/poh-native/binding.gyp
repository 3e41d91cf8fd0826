{
  "targets": [
    {
      "target_name": "poh_native",
      "sources": [
        "native/addon.cc",
        "native/blake3.cc",
        "native/blake3_addon.cc",
        "native/cpu.cc",
        "native/sha256.cc",
        "native/sha256_portable.cc",
        "native/sha256_sha_ni.cc",
        "native/verify.cc"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-O3", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
