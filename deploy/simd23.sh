#!/bin/sh
# The simd23 command-line tool, on the PATH of the image (`kubectl exec … -- simd23 …`).
exec node /app/packages/client/dist/cli/main.js "$@"
