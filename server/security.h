// Who may call what, and over which transport. TLS (--tls-cert/--tls-key) encrypts the connection and
// proves the server's identity; a client CA (--tls-client-ca) makes clients prove theirs (mTLS). A
// bearer token (--auth-token-file) guards the admin RPCs, or every RPC but health with --auth-all.
//
// Where the token is checked depends on the transport (measured with Debian 12's libgrpc++ 1.51):
//   - TLS: a grpc::AuthMetadataProcessor on the server credentials. It sees the call's metadata
//     including :path, so it refuses before any handler runs and covers every service (reflection too).
//   - plaintext: InsecureServerCredentials::SetAuthMetadataProcessor aborts the process
//     (insecure_server_credentials.cc:43, "assertion failed: 0"), and a sync server interceptor cannot
//     end a call before its handler runs. So WordBridgeService checks at the start of each handler
//     (WordBridgeService::Handle and Train), with the same AccessPolicy; the health and reflection
//     services are not covered there.
#pragma once

#include <grpcpp/grpcpp.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>

namespace wordbridge {

class MetricsRegistry;

struct SecurityOptions {
  // The server's certificate chain and private key (PEM); both or neither. With them the server speaks TLS only.
  std::string tls_cert_file;
  std::string tls_key_file;
  // CA certificates (PEM) that sign client certificates; needs TLS. Clients without a certificate
  // signed by one of them fail the handshake.
  std::string tls_client_ca_file;
  // A file holding the bearer token; read once at start-up. Empty = no token checks.
  std::string auth_token_file;
  // Require the token for every RPC (health excepted), not only the admin ones. Needs auth_token_file.
  bool auth_all = false;
};

// The RPCs that change what the server holds or runs: they need the bearer token whenever the server
// has one. Every future admin RPC (job control, uploads, version pins and deletes) belongs here.
// Watching, getting and listing jobs are reads, as ListModels is.
inline constexpr std::array<const char*, 8> kAdminMethods = {
    "/wordbridge.v1.WordBridge/Train",
    "/wordbridge.v1.WordBridge/CancelJob",
    "/wordbridge.v1.WordBridge/ResumeJob",
    "/wordbridge.v1.WordBridge/SetServingVersion",
    "/wordbridge.v1.WordBridge/DeleteVersion",
    "/wordbridge.v1.WordBridge/IndexSentences",
    "/wordbridge.v1.WordBridge/UploadCorpus",
    "/wordbridge.v1.WordBridge/DeleteCorpus",
};

// Always open, even with --auth-all: orchestrators' probes (kubelet gRPC probes, Docker HEALTHCHECK)
// cannot send a token, and the answer says only SERVING or NOT_SERVING.
inline constexpr char kOpenServicePrefix[] = "/grpc.health.v1.Health/";

// Equality whose running time depends on the lengths only, not on where the strings differ, so a
// caller cannot find the token a character at a time by timing refusals.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Which methods need the token, and whether a call's authorization metadata carries it.
class AccessPolicy {
 public:
  // An empty token needs nothing of anyone.
  AccessPolicy(std::string token, bool auth_all);

  bool enabled() const { return !token_.empty(); }
  bool auth_all() const { return auth_all_; }
  // Does `method` ("/package.Service/Method") need the token? An unknown (empty) method does, when
  // there is a token: refuse rather than guess.
  bool Protects(std::string_view method) const;
  // Throws UnauthenticatedError when `method` needs the token and `authorization` (the metadata's
  // value; null when absent) is not "Bearer <the token>". The message never contains a token.
  void Check(std::string_view method, const std::string_view* authorization) const;

 private:
  std::string token_;
  bool auth_all_;
};

// Credentials for the listening port and the policy, with where the policy is enforced.
struct ServerSecurity {
  std::shared_ptr<grpc::ServerCredentials> credentials;
  std::shared_ptr<const AccessPolicy> policy;
  bool tls = false;
  bool client_certificates = false;
  // True when the credentials enforce the policy (TLS: an AuthMetadataProcessor); otherwise the
  // service must check it in its handlers (see the file comment).
  bool policy_in_transport = false;

  // One line for the start-up log, e.g. "TLS with client certificates; token required for admin RPCs".
  std::string Describe() const;
};

// Reads and checks every file named in `options` and builds the credentials. Throws
// InvalidArgumentError for a bad combination of flags, std::runtime_error for a missing, unreadable,
// empty or malformed file (naming the flag and the path). Calls the credentials refuse are counted in
// `metrics` (may be null) as wordbridge_rpc_requests_total{code="UNAUTHENTICATED"}, as the service
// counts the ones it refuses.
ServerSecurity MakeServerSecurity(const SecurityOptions& options, MetricsRegistry* metrics = nullptr);

}  // namespace wordbridge
