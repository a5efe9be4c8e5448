package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	sagav1 "github.com/saga-coordinator/examples/go-participant/gen/saga/v1"
)

// MTLS serves TLS only, requires a client certificate signed by CAFile, and
// answers Execute and Compensate only for the coordinator identities in
// AllowedCallers (certificate CN or a DNS/URI/IP SAN): anyone else gets
// PERMISSION_DENIED before the barrier or a handler runs.
type MTLS struct {
	CertFile, KeyFile, CAFile string
	AllowedCallers            []string
}

func (m *MTLS) serverOptions() ([]grpc.ServerOption, error) {
	cert, err := tls.LoadX509KeyPair(m.CertFile, m.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	caPEM, err := os.ReadFile(m.CAFile)
	if err != nil {
		return nil, fmt.Errorf("TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("TLS CA %s holds no PEM certificate", m.CAFile)
	}
	if len(m.AllowedCallers) == 0 {
		return nil, fmt.Errorf("allowed callers: name at least one coordinator identity")
	}
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	return []grpc.ServerOption{grpc.Creds(creds), grpc.UnaryInterceptor(allowCallers(m.AllowedCallers))}, nil
}

// allowCallers refuses participant calls from any verified identity not in allowed.
func allowCallers(allowed []string) grpc.UnaryServerInterceptor {
	participantMethods := "/" + sagav1.ParticipantService_ServiceDesc.ServiceName + "/"
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, participantMethods) {
			return handler(ctx, req)
		}
		names := callerIdentities(ctx)
		for _, name := range names {
			if slices.Contains(allowed, name) {
				return handler(ctx, req)
			}
		}
		if len(names) == 0 {
			return nil, status.Error(codes.PermissionDenied, "caller presented no client certificate; this participant accepts only the coordinator's (mTLS)")
		}
		return nil, status.Errorf(codes.PermissionDenied, "caller %s is not an allowed coordinator identity (allowed: %s)",
			strings.Join(names, ", "), strings.Join(allowed, ", "))
	}
}

// callerIdentities are the names the verified client certificate proves: CN, then SANs.
func callerIdentities(ctx context.Context) []string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil
	}
	leaf := info.State.VerifiedChains[0][0]
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	add(leaf.Subject.CommonName)
	for _, n := range leaf.DNSNames {
		add(n)
	}
	for _, u := range leaf.URIs {
		add(u.String())
	}
	for _, ip := range leaf.IPAddresses {
		add(ip.String())
	}
	return names
}
