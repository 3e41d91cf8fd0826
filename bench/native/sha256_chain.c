/*
 * The native baseline for the PoH bench: a sha256 chain over 32-byte values
 * with OpenSSL's low-level SHA256 (SHA-NI where the CPU has it), the way a C
 * PoH loop would call it.
 *
 *   sha256_chain check <n>    prints the hex of sha256^n(32 zero bytes)
 *   sha256_chain rate <ms>    hashes for at least <ms> ms after a warm-up and
 *                             prints {"hashes":H,"seconds":S}
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init/Update/Final: the low-level API */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { HASH_BYTES = 32, BATCH = 100000 };

static void chain(unsigned char hash[HASH_BYTES], long n) {
  SHA256_CTX context;
  for (long i = 0; i < n; i++) {
    SHA256_Init(&context);
    SHA256_Update(&context, hash, HASH_BYTES);
    SHA256_Final(hash, &context);
  }
}

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s check <n> | rate <ms>\n", argv[0]);
    return 2;
  }
  const long argument = strtol(argv[2], NULL, 10);
  unsigned char hash[HASH_BYTES];
  memset(hash, 0, sizeof hash);

  if (strcmp(argv[1], "check") == 0) {
    chain(hash, argument);
    for (int i = 0; i < HASH_BYTES; i++) printf("%02x", hash[i]);
    printf("\n");
    return 0;
  }
  if (strcmp(argv[1], "rate") != 0) return 2;

  const double minimum = (double)argument / 1000.0;
  const double warm_until = now_seconds() + 0.2;
  while (now_seconds() < warm_until) chain(hash, BATCH);
  long hashes = 0;
  const double start = now_seconds();
  double elapsed = 0;
  do {
    chain(hash, BATCH);
    hashes += BATCH;
    elapsed = now_seconds() - start;
  } while (elapsed < minimum);
  /* The digest keeps the compiler from dropping the loop. */
  printf("{\"hashes\":%ld,\"seconds\":%.6f,\"last\":\"%02x\"}\n", hashes, elapsed, hash[0]);
  return 0;
}
