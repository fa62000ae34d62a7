package cache

// An S3 cache is the same Nix layout (nix-cache-info, <hash>.narinfo, nar/<filehash>.nar.<ext>)
// as objects of a bucket, under an optional key prefix, in Nix's URL form:
//
//	s3://BUCKET[/PREFIX]?endpoint=URL&region=R&profile=P&scheme=http
//
// The client is minio-go (v7) rather than aws-sdk-go-v2: one module rather than a dozen, made
// for every S3-compatible server (R2, Ceph RGW, SeaweedFS, Garage, MinIO) as much as for AWS,
// with path-style addressing, SigV4 signing, the AWS credential files and parallel multipart
// uploads built in. Signing requests by hand would be the riskiest code in den for no gain.
//
// Credentials come from the standard places, in the AWS CLI's order: AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the environment, then the profile (the URL's
// profile=, else AWS_PROFILE, else "default") of ~/.aws/credentials and ~/.aws/config
// (AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE move them). A profile named in the URL is
// used alone, as Nix does. With none found, requests are anonymous, which a public bucket
// answers for reading. Instance and container roles are not asked: probing the metadata address
// would slow every den off a cloud machine.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3PartSize is the size of a multipart upload's parts: a NAR larger than this is uploaded in
// parts, s3Threads of them at once. S3 wants parts of at least 5 MiB.
const (
	s3PartSize = 16 << 20
	s3Threads  = 4
)

// S3ErrorKind says which of the failures a user must act on an S3 cache's request met.
type S3ErrorKind int

const (
	S3Other       S3ErrorKind = iota
	S3Credentials             // the server refused the credentials (unknown key, bad secret, expired token, denied)
	S3NoBucket                // the bucket does not exist
	S3Unreachable             // no answer from the endpoint at all
)

// S3Error is a failed request to an S3 cache, said in one line that names the cache (never a
// secret) and what to do.
type S3Error struct {
	URL      string // the cache, as URL() says it
	Kind     S3ErrorKind
	Code     string // the server's error code (InvalidAccessKeyId, NoSuchBucket, …), if it sent one
	Profile  string // the profile the credentials came from, when the URL names one
	Endpoint string // scheme://host[:port] the requests went to
	// Anonymous says no credentials were found, so the requests were unsigned.
	Anonymous bool
	Err       error
}

func (e *S3Error) Error() string {
	switch e.Kind {
	case S3Credentials:
		if e.Anonymous {
			return fmt.Sprintf("%s refused access (%s) without credentials, and none were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials (AWS_PROFILE or ?profile=)", e.URL, e.Code)
		}
		if e.Code == "" && e.Profile != "" {
			return fmt.Sprintf("%s: no credentials for profile %s in ~/.aws/credentials or ~/.aws/config (%v); add them, or correct ?profile=", e.URL, e.Profile, e.Err)
		}
		where := "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials (AWS_PROFILE or ?profile=)"
		if e.Profile != "" {
			where = fmt.Sprintf("check the keys of profile %s in ~/.aws/credentials or ~/.aws/config", e.Profile)
		}
		return fmt.Sprintf("%s refused the credentials (%s); %s", e.URL, e.Code, where)
	case S3NoBucket:
		bucket, _, _ := strings.Cut(strings.TrimPrefix(e.URL, "s3://"), "/")
		return fmt.Sprintf("%s: the bucket %s does not exist at this endpoint; create it, or correct the bucket name or ?endpoint=", e.URL, bucket)
	case S3Unreachable:
		return fmt.Sprintf("%s: cannot reach the endpoint %s: %v; check ?endpoint= (and ?scheme=http for a plain-HTTP server) and that the server is running", e.URL, e.Endpoint, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.URL, e.Err)
}

func (e *S3Error) Unwrap() error { return e.Err }

// s3Cache is a cache in a bucket of an S3-compatible object store.
type s3Cache struct {
	baseCache
	client  *minio.Client
	creds   *credentials.Credentials
	bucket  string
	prefix  string // "" or "dir/" — keys are prefix+name
	profile string
}

// openS3 parses s3://BUCKET[/PREFIX]?… as Nix does: endpoint= is a host[:port] (Nix's form, with
// scheme=http for a plain server) or a whole http(s):// URL; region= defaults to AWS_REGION,
// then us-east-1 for a non-AWS endpoint (AWS itself is asked where the bucket is).
func openS3(rawURL, bare string, u *url.URL, prio int, client *http.Client) (Cache, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("cache URL %q has no bucket; write s3://BUCKET[/PREFIX]?endpoint=…", rawURL)
	}
	q := u.Query()
	secure := true
	switch s := q.Get("scheme"); s {
	case "", "https":
	case "http":
		secure = false
	default:
		return nil, fmt.Errorf("cache URL %q: scheme=%q is neither http nor https", rawURL, s)
	}
	endpoint, custom := q.Get("endpoint"), true
	if strings.Contains(endpoint, "://") {
		e, err := url.Parse(endpoint)
		if err != nil || e.Host == "" || (e.Scheme != "http" && e.Scheme != "https") {
			return nil, fmt.Errorf("cache URL %q: endpoint=%q is not host[:port] nor an http(s):// URL", rawURL, endpoint)
		}
		if e.Path != "" && e.Path != "/" {
			return nil, fmt.Errorf("cache URL %q: endpoint=%q has a path; the bucket and prefix go in s3://BUCKET/PREFIX", rawURL, endpoint)
		}
		endpoint, secure = e.Host, e.Scheme == "https"
	}
	if endpoint == "" {
		endpoint, custom = "s3.amazonaws.com", false
	}
	region := q.Get("region")
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if region == "" && custom {
		// Servers other than AWS mostly ignore the region, but it is part of the signature; asking
		// the server for it costs a request per bucket and some do not answer it.
		region = "us-east-1"
	}
	profile := q.Get("profile")
	var creds *credentials.Credentials
	if profile != "" {
		creds = credentials.NewFileAWSCredentials("", profile)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
		})
	}
	if client == nil {
		client = http.DefaultClient
	}
	transport := client.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	lookup := minio.BucketLookupAuto
	if custom && !strings.HasSuffix(strings.Split(endpoint, ":")[0], ".amazonaws.com") {
		// Other servers mostly serve buckets only as a path (no wildcard DNS on loopback or a LAN).
		lookup = minio.BucketLookupPath
	}
	mc, err := minio.New(endpoint, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    transport,
		Region:       region,
		BucketLookup: lookup,
		MaxRetries:   3,
	})
	if err != nil {
		return nil, fmt.Errorf("cache URL %q: %v", rawURL, err)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		if checkName(prefix) != nil {
			return nil, fmt.Errorf("cache URL %q: the prefix %q is not a clean path", rawURL, prefix)
		}
		prefix += "/"
	}
	return &s3Cache{baseCache: baseCache{raw: bare, prio: prio}, client: mc, creds: creds, bucket: u.Host, prefix: prefix, profile: profile}, nil
}

// checkProfile says that a profile the URL names cannot be read, before any request: minio-go
// would otherwise report it as a bare file-format error.
func (c *s3Cache) checkProfile() error {
	if c.profile == "" {
		return nil
	}
	if _, err := c.creds.Get(); err != nil {
		return &S3Error{URL: c.URL(), Kind: S3Credentials, Profile: c.profile, Err: err}
	}
	return nil
}

func (c *s3Cache) key(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return c.prefix + name, nil
}

// fail turns what minio-go returned into ErrNotFound (a missing key; also AccessDenied, which S3
// answers for a missing key when the credentials may not list the bucket, as Nix reads it) or an
// S3Error that says what to do.
func (c *s3Cache) fail(op, name string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	resp := minio.ToErrorResponse(err)
	e := &S3Error{URL: c.URL(), Code: resp.Code, Profile: c.profile, Endpoint: c.client.EndpointURL().String(), Err: err}
	switch resp.Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s/%s: %w", c.URL(), name, ErrNotFound)
	case "NoSuchBucket":
		e.Kind = S3NoBucket
		return e
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired",
		"AuthorizationHeaderMalformed", "InvalidSecurity", "AccountProblem":
		e.Kind = S3Credentials
		return e
	case "AccessDenied":
		anonymous := false
		if v, err := c.creds.Get(); err == nil && v.AccessKeyID == "" {
			anonymous = true
		}
		// Every cache has nix-cache-info: refused that, unsigned, the bucket is not public, and
		// that is the thing to say. Other files a public bucket may refuse for being missing.
		if anonymous && (name == "nix-cache-info" || (op != "get" && op != "head")) {
			e.Kind, e.Anonymous = S3Credentials, true
			return e
		}
		if op == "get" || op == "head" {
			return fmt.Errorf("%s/%s: %w", c.URL(), name, ErrNotFound)
		}
		e.Kind = S3Credentials
		return e
	}
	if resp.Code == "" && resp.StatusCode == 0 {
		var ne net.Error
		var oe *net.OpError
		var ue *url.Error
		if errors.As(err, &oe) || errors.As(err, &ne) || errors.As(err, &ue) {
			e.Kind = S3Unreachable
			if errors.As(err, &ue) {
				e.Err = ue.Err // *url.Error's own spelling repeats the URL, quoted
			}
			return e
		}
	}
	if resp.Message != "" {
		e.Err = fmt.Errorf("%s %s: %s (%s)", op, name, resp.Message, resp.Code)
	} else {
		e.Err = fmt.Errorf("%s %s: %w", op, name, err)
	}
	return e
}

// Info reads nix-cache-info; when it is missing, the bucket is asked whether it exists, so that
// a misspelt bucket is said as one and not as "not a binary cache".
func (c *s3Cache) Info(ctx context.Context) (*CacheInfo, error) {
	info, err := c.readInfo(ctx, c.Get)
	if errors.Is(err, ErrNotFound) {
		// An error here (credentials that may read objects but not the bucket) leaves the answer
		// "no nix-cache-info".
		if ok, berr := c.client.BucketExists(ctx, c.bucket); berr == nil && !ok {
			return nil, &S3Error{URL: c.URL(), Kind: S3NoBucket, Code: "NoSuchBucket", Err: errors.New("no such bucket")}
		}
	}
	return info, err
}

func (c *s3Cache) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	key, err := c.key(name)
	if err != nil {
		return nil, err
	}
	if err := c.checkProfile(); err != nil {
		return nil, err
	}
	obj, err := c.client.GetObject(ctx, c.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, c.fail("get", name, err)
	}
	// The object is fetched lazily, by the first Read (Stat would send a HEAD, whose answer has
	// no body to tell wrong credentials from a missing key): read the start now, so that a
	// missing object is ErrNotFound here and not a failing read later.
	r := &s3Reader{obj: obj, c: c, name: name, head: make([]byte, 32<<10)}
	n, err := io.ReadFull(obj, r.head)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		r.done = true
	case err != nil:
		obj.Close()
		return nil, c.fail("get", name, err)
	}
	r.head = r.head[:n]
	return r, nil
}

// s3Reader gives the start read by Get, then the rest of the object, and says a read that fails
// midway as the cache's error.
type s3Reader struct {
	obj  *minio.Object
	c    *s3Cache
	name string
	head []byte
	done bool // the object ended within head
}

func (r *s3Reader) Read(b []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(b, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	if r.done {
		return 0, io.EOF
	}
	n, err := r.obj.Read(b)
	if err != nil && err != io.EOF {
		err = r.c.fail("get", r.name, err)
	}
	return n, err
}

func (r *s3Reader) Close() error { return r.obj.Close() }

func (c *s3Cache) Has(ctx context.Context, name string) (bool, error) {
	key, err := c.key(name)
	if err != nil {
		return false, err
	}
	if err := c.checkProfile(); err != nil {
		return false, err
	}
	_, err = c.client.StatObject(ctx, c.bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	err = c.fail("head", name, err)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return false, err
}

// Put uploads an object. A body whose size is known (a pushed NAR is a file) larger than
// s3PartSize goes up as a multipart upload, s3Threads parts at once; the object appears only
// when the upload completes, so an interrupted one leaves nothing a reader sees (and push.go
// writes a narinfo only after its NAR).
func (c *s3Cache) Put(ctx context.Context, name string, r io.Reader) error {
	key, err := c.key(name)
	if err != nil {
		return err
	}
	size := int64(-1)
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if off, err := f.Seek(0, io.SeekCurrent); err == nil {
				size = fi.Size() - off
				r = io.NewSectionReader(f, off, size)
			}
		}
	} else if s, ok := r.(interface{ Size() int64 }); ok {
		size = s.Size()
	}
	if err := c.checkProfile(); err != nil {
		return err
	}
	opt := minio.PutObjectOptions{ContentType: contentType(name), PartSize: s3PartSize, NumThreads: s3Threads}
	if size < 0 {
		opt.ConcurrentStreamParts = true
	}
	_, err = c.client.PutObject(ctx, c.bucket, key, r, size, opt)
	return c.fail("put", name, err)
}

// List lists the narinfo objects directly under the prefix.
func (c *s3Cache) List(ctx context.Context) ([]string, error) {
	if err := c.checkProfile(); err != nil {
		return nil, err
	}
	var names []string
	for obj := range c.client.ListObjects(ctx, c.bucket, minio.ListObjectsOptions{Prefix: c.prefix}) {
		if obj.Err != nil {
			return nil, c.fail("list", "", obj.Err)
		}
		n := strings.TrimPrefix(obj.Key, c.prefix)
		if strings.HasSuffix(n, ".narinfo") && !strings.Contains(n, "/") && checkName(n) == nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}
