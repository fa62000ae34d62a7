// Package s3test owns a fake S3 server on loopback for tests: gofakes3's in-memory backend behind a check of the access key and a hook that cuts uploads.
package s3test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The credentials the server accepts; any other access key is refused with InvalidAccessKeyId,
// as S3 refuses it. (gofakes3 checks no signatures; the key id is what tells wrong credentials.)
const (
	AccessKey = "DENTESTACCESSKEY"
	SecretKey = "den-test-secret-key-0123456789"
)

// Server is a running fake S3 endpoint.
type Server struct {
	URL string // http://127.0.0.1:PORT, for ?endpoint=

	srv     *httptest.Server
	backend *s3mem.Backend

	mu       sync.Mutex
	cut      func(r *http.Request) bool
	requests []string
	puts     atomic.Int64
}

var credentialRE = regexp.MustCompile(`Credential=([^/,\s]+)/`)

// Start starts a fake S3 server with the given buckets.
func Start(buckets ...string) (*Server, error) {
	s := &Server{backend: s3mem.New()}
	for _, b := range buckets {
		if err := s.backend.CreateBucket(b); err != nil {
			return nil, err
		}
	}
	faker := gofakes3.New(s.backend, gofakes3.WithAutoBucket(false))
	h := faker.Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
		cut := s.cut
		s.mu.Unlock()
		m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil && r.URL.Query().Get("X-Amz-Credential") == "" {
			// Unsigned: the buckets are private, as S3 answers it.
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			if r.Method != http.MethodHead {
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			}
			return
		}
		if m == nil || m[1] != AccessKey {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			if r.Method != http.MethodHead {
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
			}
			return
		}
		if r.Method == http.MethodPut || r.Method == http.MethodPost {
			s.puts.Add(1)
		}
		if cut != nil && cut(r) {
			// As a connection that dies mid-upload: no answer at all.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, "cut", http.StatusInternalServerError)
			return
		}
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") && r.Header.Get("X-Amz-Content-Sha256") == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" {
			// gofakes3 decodes aws-chunked bodies of whole objects but stores a part's
			// encoding as its content; S3 stores the decoded bytes.
			body, err := decodeChunked(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.Header.Set("Content-Length", strconv.Itoa(len(body)))
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		}
		h.ServeHTTP(w, r)
	}))
	s.URL = s.srv.URL
	return s, nil
}

// decodeChunked reads an aws-chunked body: chunks "HEXSIZE;chunk-signature=SIG\r\nDATA\r\n",
// the last of size 0.
func decodeChunked(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(r)
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: %v", err)
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: bad chunk size %q", sizeHex)
		}
		if n == 0 {
			return out.Bytes(), nil
		}
		if _, err := io.CopyN(&out, br, n); err != nil {
			return nil, fmt.Errorf("aws-chunked: %v", err)
		}
		if _, err := br.Discard(2); err != nil {
			return nil, fmt.Errorf("aws-chunked: %v", err)
		}
	}
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Endpoint is the server's host:port, as Nix's endpoint= takes it (with scheme=http).
func (s *Server) Endpoint() string { return strings.TrimPrefix(s.URL, "http://") }

// CacheURL is s3://BUCKET[/PREFIX] on this server.
func (s *Server) CacheURL(bucketAndPrefix string) string {
	return "s3://" + bucketAndPrefix + "?endpoint=" + s.URL + "&region=us-east-1"
}

// Cut makes every request for which f is true fail as a dropped connection; nil stops it.
func (s *Server) Cut(f func(r *http.Request) bool) {
	s.mu.Lock()
	s.cut = f
	s.mu.Unlock()
}

// Requests are "METHOD /path?query" of every request so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Keys lists the objects of a bucket.
func (s *Server) Keys(bucket string) ([]string, error) {
	res, err := s.backend.ListBucket(bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, c := range res.Contents {
		keys = append(keys, c.Key)
	}
	sort.Strings(keys)
	return keys, nil
}
