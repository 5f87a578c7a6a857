# syntax=docker/dockerfile:1
# wordbridge: multi-stage image. Stage "deps" holds the toolchain and -dev packages (cached layer),
# "build" compiles the two binaries, "runtime" holds only the shared libraries they load.
# Build without a daemon: ../shared/tools/oci-build . wordbridge:dev   (see scripts/container-e2e)

########## build toolchain (changes rarely, so it is its own cached stage) ##########
FROM debian:bookworm-slim AS deps
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ccache \
      libtorch-dev libdnnl-dev libfaiss-dev libopenblas-dev \
      libgrpc++-dev libgrpc-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc \
      libgtest-dev libgmock-dev nlohmann-json3-dev libcli11-dev \
      libicu-dev libsentencepiece-dev libabsl-dev libcpp-httplib-dev libssl-dev \
      libgoogle-perftools-dev \
 && rm -rf /var/lib/apt/lists/*

########## compile ##########
FROM deps AS build
# Only what the server and CLI need: edits to tests/, bench/, deploy/ or docs do not invalidate this stage.
WORKDIR /src
COPY CMakeLists.txt ./
COPY proto/ proto/
COPY model/ model/
COPY server/ server/
COPY client/ client/
# -j2: the build machines have two cores and LibTorch translation units are memory hungry.
# The ccache mount (CMakeLists.txt picks ccache up) makes rebuilds after small edits cheap.
ARG BUILD_JOBS=2
ENV CCACHE_DIR=/root/.cache/ccache
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
          -DWORDBRIDGE_BUILD_TESTS=OFF -DWORDBRIDGE_BUILD_BENCH=OFF \
 && cmake --build build -j"${BUILD_JOBS}" --target wordbridge-server wordbridge wordbridge_spm \
 && strip --strip-unneeded build/wordbridge-server build/wordbridge build/libwordbridge_spm.so

########## runtime libraries only (also its own cached stage) ##########
FROM debian:bookworm-slim AS runtime-base
ARG DEBIAN_FRONTEND=noninteractive
# libtorch1.13 is the runtime package of libtorch-dev; FAISS is linked statically (Debian ships only
# libfaiss.a) and needs libblas.so.3/liblapack.so.3, which libopenblas0-openmp provides. OpenBLAS must be
# installed explicitly: with the reference libblas3 LibTorch matmuls are ~15x slower. libdnnl2 (oneDNN,
# called directly for decoding's packed products) comes with libtorch1.13. libssl3 holds libcrypto (SHA-256
# of the model store's manifests; gRPC loads it too). libtcmalloc-minimal4 is the server's allocator
# (docs/design.md, "Memory allocator").
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libtorch1.13 libopenblas0-openmp libgomp1 \
      libgrpc++1.51 libprotobuf32 libicu72 libsentencepiece0 libcpp-httplib0.11 libssl3 \
      libtcmalloc-minimal4 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin \
 && groupadd --system --gid 10001 wordbridge \
 && useradd --system --uid 10001 --gid wordbridge --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin wordbridge \
 && mkdir -p /models /data \
 && chown wordbridge:wordbridge /models /data

########## final image ##########
FROM runtime-base AS runtime
COPY --from=build /src/build/wordbridge-server /src/build/wordbridge /usr/local/bin/
# SentencePiece runs behind a shim that the server dlmopen()s into its own namespace (its bundled protobuf
# clashes with libprotobuf32); the server looks for it in <exe dir>/../lib/wordbridge/.
COPY --from=build /src/build/libwordbridge_spm.so /usr/local/lib/wordbridge/libwordbridge_spm.so
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh

# Flags of wordbridge-server, mapped by the entrypoint (see deploy/docker-entrypoint.sh).
# WORDBRIDGE_THREADS empty = number of cores the server sees. The container listens on 0.0.0.0 (the
# binary's own default is 127.0.0.1). TLS and the bearer token: WORDBRIDGE_TLS_CERT, WORDBRIDGE_TLS_KEY,
# WORDBRIDGE_TLS_CLIENT_CA, WORDBRIDGE_AUTH_TOKEN_FILE, WORDBRIDGE_AUTH_ALL (deploy/README.md).
ENV WORDBRIDGE_HOST=0.0.0.0 \
    WORDBRIDGE_PORT=50051 \
    WORDBRIDGE_MODEL_DIR=/models \
    WORDBRIDGE_DATA_DIR=/data \
    WORDBRIDGE_THREADS= \
    WORDBRIDGE_DRAIN_SECONDS=10 \
    WORDBRIDGE_BOOTSTRAP_TOY=0

VOLUME /models
WORKDIR /data
EXPOSE 50051
USER wordbridge:wordbridge

# Shell form so a changed WORDBRIDGE_PORT (e.g. with --network host) is honoured; default 50051.
# (podman keeps HEALTHCHECK only in docker-format images: build with BUILDAH_FORMAT=docker.)
# Plaintext: with TLS on, override it with one that passes --tls-ca (deploy/docker-compose.tls.yml does).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD wordbridge --server 127.0.0.1:${WORDBRIDGE_PORT:-50051} health || exit 1

# Stop with SIGTERM: the server reports NOT_SERVING, drains for WORDBRIDGE_DRAIN_SECONDS, then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["wordbridge-server"]
