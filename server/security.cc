#include "server/security.h"

#include <grpcpp/security/auth_metadata_processor.h>

#include <algorithm>
#include <cctype>

#include "model/common/errors.h"
#include "model/serve/metrics.h"
#include "proto/credential_files.h"

namespace wordbridge {

namespace {

// "Train" from "/wordbridge.v1.WordBridge/Train", for messages.
std::string_view ShortName(std::string_view method) {
  const auto slash = method.rfind('/');
  return slash == std::string_view::npos ? method : method.substr(slash + 1);
}

bool StartsWithIgnoringCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

// Enforces the policy on every call of a TLS server, before the call reaches a handler. Runs inline
// (IsBlocking false): it only compares strings.
class BearerTokenProcessor : public grpc::AuthMetadataProcessor {
 public:
  BearerTokenProcessor(std::shared_ptr<const AccessPolicy> policy, MetricsRegistry* metrics)
      : policy_(std::move(policy)), metrics_(metrics) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext*, OutputMetadata* consumed,
                       OutputMetadata*) override {
    std::string_view method;
    if (auto path = metadata.find(":path"); path != metadata.end()) {
      method = std::string_view(path->second.data(), path->second.size());
    }
    const auto header = metadata.find(kAuthorizationHeader);
    std::string_view value;
    if (header != metadata.end()) value = std::string_view(header->second.data(), header->second.size());
    try {
      policy_->Check(method, header == metadata.end() ? nullptr : &value);
    } catch (const UnauthenticatedError& e) {
      if (metrics_) {
        // The handler never runs, so count the refusal here, with the labels the service uses.
        metrics_->GetCounter("wordbridge_rpc_requests_total", "RPCs handled, by method and status code",
                             {{"method", std::string(ShortName(method))}, {"code", "UNAUTHENTICATED"}})
            .Increment();
      }
      return {grpc::StatusCode::UNAUTHENTICATED, e.what()};
    }
    // Handlers never see the token, so nothing downstream can log it.
    if (header != metadata.end()) consumed->insert({kAuthorizationHeader, std::string(value)});
    return grpc::Status::OK;
  }

 private:
  std::shared_ptr<const AccessPolicy> policy_;
  MetricsRegistry* metrics_;
};

}  // namespace

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Every byte of the longer string is visited and no branch depends on the contents.
  const size_t n = std::max(a.size(), b.size());
  volatile unsigned char difference = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    difference = difference | (x ^ y);
  }
  return difference == 0;
}

AccessPolicy::AccessPolicy(std::string token, bool auth_all) : token_(std::move(token)), auth_all_(auth_all) {}

bool AccessPolicy::Protects(std::string_view method) const {
  if (token_.empty()) return false;
  if (method.empty()) return true;
  if (method.substr(0, sizeof(kOpenServicePrefix) - 1) == kOpenServicePrefix) return false;
  if (auth_all_) return true;
  return std::any_of(kAdminMethods.begin(), kAdminMethods.end(),
                     [&](const char* admin) { return method == admin; });
}

void AccessPolicy::Check(std::string_view method, const std::string_view* authorization) const {
  if (!Protects(method)) return;
  const std::string name(method.empty() ? std::string_view("this call") : ShortName(method));
  if (authorization == nullptr) {
    throw UnauthenticatedError(name + " needs a bearer token ('" + kAuthorizationHeader + ": " + kBearerPrefix +
                               "<token>' metadata); the wordbridge CLI sends one with --auth-token-file FILE or "
                               "WORDBRIDGE_AUTH_TOKEN");
  }
  const std::string_view prefix = kBearerPrefix;
  if (!StartsWithIgnoringCase(*authorization, prefix)) {
    throw UnauthenticatedError(name + ": the authorization metadata is not a bearer token (expected '" +
                               kBearerPrefix + "<token>')");
  }
  if (!ConstantTimeEquals(authorization->substr(prefix.size()), token_)) {
    throw UnauthenticatedError(name + ": the bearer token is not valid");
  }
}

std::string ServerSecurity::Describe() const {
  std::string text = !tls ? "plaintext (no TLS)" : client_certificates ? "TLS with client certificates" : "TLS";
  if (!policy || !policy->enabled()) return text + "; no token";
  return text + "; bearer token required for " + (policy->auth_all() ? "every RPC but health" : "admin RPCs") +
         (policy_in_transport ? "" : " (checked in the handlers)");
}

ServerSecurity MakeServerSecurity(const SecurityOptions& options, MetricsRegistry* metrics) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    throw InvalidArgumentError("--tls-cert and --tls-key go together: give both (the certificate and its key) or neither");
  }
  const bool tls = !options.tls_cert_file.empty();
  if (!options.tls_client_ca_file.empty() && !tls) {
    throw InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key: client certificates are checked in a TLS handshake");
  }
  if (options.auth_all && options.auth_token_file.empty()) {
    throw InvalidArgumentError("--auth-all needs --auth-token-file: there is no token to require");
  }
  ServerSecurity security;
  std::string token;
  if (!options.auth_token_file.empty()) token = ReadTokenFile(options.auth_token_file, "--auth-token-file");
  security.policy = std::make_shared<const AccessPolicy>(std::move(token), options.auth_all);
  if (!tls) {
    security.credentials = grpc::InsecureServerCredentials();
    return security;
  }
  grpc::SslServerCredentialsOptions ssl(options.tls_client_ca_file.empty()
                                            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  pair.private_key = ReadPemFile(options.tls_key_file, "--tls-key");
  pair.cert_chain = ReadPemFile(options.tls_cert_file, "--tls-cert");
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.tls_client_ca_file.empty()) ssl.pem_root_certs = ReadPemFile(options.tls_client_ca_file, "--tls-client-ca");
  security.credentials = grpc::SslServerCredentials(ssl);
  security.tls = true;
  security.client_certificates = !options.tls_client_ca_file.empty();
  if (security.policy->enabled()) {
    security.credentials->SetAuthMetadataProcessor(std::make_shared<BearerTokenProcessor>(security.policy, metrics));
    security.policy_in_transport = true;
  }
  return security;
}

}  // namespace wordbridge
