// C interface of the SentencePiece shim (libwordbridge_spm.so), loaded with dlopen.
//
// Why a shim: Debian's libsentencepiece carries its own copy of protobuf-lite 3.14 and exports it.
// Linked into a program that also uses the system libprotobuf 3.21 (gRPC), one of the two copies
// wins every symbol and the process aborts at start-up or on first use. The shim is loaded with
// dlmopen into a new link-map namespace, so SentencePiece, its protobuf copy and even its C++
// runtime are private to it. Hence this plain C interface: only bytes cross the boundary, and
// memory is freed on the side that allocated it (wbspm_free_buffer).
#pragma once

#include <cstddef>

extern "C" {

// Every function returns 0 on success; on failure it returns non-zero and sets *error to a
// message that the caller frees with wbspm_free_buffer. Output buffers are freed the same way.
typedef struct WbSpmBuffer {
  char* data;
  size_t size;
} WbSpmBuffer;

int wbspm_load(const char* model, size_t model_size, void** processor, WbSpmBuffer* error);
void wbspm_release(void* processor);
// Pieces are returned joined by '\n' (SentencePiece pieces never contain a newline).
int wbspm_encode(void* processor, const char* text, size_t text_size, WbSpmBuffer* pieces, WbSpmBuffer* error);
int wbspm_decode(void* processor, const char* pieces, size_t pieces_size, WbSpmBuffer* text, WbSpmBuffer* error);
// Trains on '\n'-separated sentences with trainer flags `args`; returns the serialized model.
int wbspm_train(const char* args, const char* sentences, size_t sentences_size, WbSpmBuffer* model,
                WbSpmBuffer* error);
void wbspm_free_buffer(WbSpmBuffer* buffer);
}
