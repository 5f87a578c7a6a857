// Transport settings shared by the server and the client: explicit message-size limits and keepalive.
// The server pings idle connections and drops peers that stop answering, so a client that vanished
// (a killed process, a network partition) is noticed within about 80 s and its calls are cancelled;
// clients ping more often than the server allows only when they misbehave, and get GOAWAY.
#pragma once

#include <grpcpp/grpcpp.h>

namespace wordbridge {

// The largest request or response either side accepts, unless configured otherwise: inline training
// corpora and batched requests can be large, unbounded ones are refused (RESOURCE_EXHAUSTED).
constexpr int kDefaultMaxMessageBytes = 256 * 1024 * 1024;

// Server keepalive: ping a connection idle this long, and close it when the ping is not answered.
constexpr int kServerKeepaliveTimeMs = 60 * 1000;
constexpr int kServerKeepaliveTimeoutMs = 20 * 1000;
// Enforcement: clients may ping at most this often (more often counts as a strike).
constexpr int kMinClientPingIntervalMs = 10 * 1000;
// Client keepalive: within the server's enforcement.
constexpr int kClientKeepaliveTimeMs = 30 * 1000;
constexpr int kClientKeepaliveTimeoutMs = 10 * 1000;

// Message limits and keepalive on a server being built.
void ApplyServerTransportSettings(grpc::ServerBuilder* builder, int max_message_bytes = kDefaultMaxMessageBytes);
// Channel arguments for a client: the same message limits and a keepalive the server accepts.
grpc::ChannelArguments ClientChannelArguments(int max_message_bytes = kDefaultMaxMessageBytes);

}  // namespace wordbridge
