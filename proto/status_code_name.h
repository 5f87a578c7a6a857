// The gRPC status code names ("OK", "RESOURCE_EXHAUSTED", ...), shared by the server (metrics labels)
// and the client (load reports).
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

namespace wordbridge {

// The name the gRPC specification gives `code`; "CODE_<n>" for a value outside it.
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace wordbridge
