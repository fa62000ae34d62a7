package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// CheckSubstituter reports what is wrong with a binary cache URL as a user writes it in
// substituters: file:///DIR, http(s)://HOST[/PREFIX] or s3://BUCKET[/PREFIX], with an optional
// ?priority=N as in Nix, and for s3:// Nix's endpoint=, region=, profile= and scheme=.
// It checks the spelling only; whether the cache answers is for the cache machinery to find out.
// It lives here, free of the cache code, so that reading config.toml and den.toml stays cheap.
func CheckSubstituter(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return fmt.Errorf("%q: a file URL has no host; write file:///absolute/dir", s)
		}
		if u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
			return fmt.Errorf("%q: a file URL needs an absolute directory; write file:///absolute/dir", s)
		}
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("%q has no host", s)
		}
	case "s3":
		if u.Host == "" {
			return fmt.Errorf("%q has no bucket; write s3://BUCKET[/PREFIX]?endpoint=…", s)
		}
	case "":
		return fmt.Errorf("%q is not a cache URL; write file:///DIR, http(s)://HOST/… or s3://BUCKET/…", s)
	default:
		return fmt.Errorf("%q: den reads caches from file://, http(s):// and s3:// URLs, not %s://", s, u.Scheme)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("%q: bad query: %v", s, err)
	}
	for k, vs := range q {
		if u.Scheme == "s3" && s3Params[k] {
			continue
		}
		if k != "priority" {
			if u.Scheme == "s3" {
				return fmt.Errorf("%q: unknown parameter %q (s3:// takes priority, endpoint, region, profile and scheme)", s, k)
			}
			return fmt.Errorf("%q: unknown parameter %q (the only one is priority=N)", s, k)
		}
		for _, v := range vs {
			if _, err := strconv.Atoi(v); err != nil {
				return fmt.Errorf("%q: priority=%q is not an integer", s, v)
			}
		}
	}
	return nil
}

// s3Params are the parameters of Nix's s3:// store URLs that den's S3 caches take besides
// priority; Nix's tuning ones (compression, multipart-upload, buffer-size) are accepted too and
// ignored, so that a URL copied from a Nix configuration works.
var s3Params = map[string]bool{
	"endpoint": true, "region": true, "profile": true, "scheme": true,
	"compression": true, "narinfo-compression": true, "ls-compression": true, "log-compression": true,
	"multipart-upload": true, "buffer-size": true, "write-nar-listing": true, "parallel-compression": true,
}

// CheckPublicKey reports what is wrong with a trusted public key in Nix's format: NAME:BASE64
// of a 32-byte ed25519 key, as printed by den cache keygen or nix key convert-secret-to-public.
func CheckPublicKey(s string) error {
	name, b64, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || name == "" {
		return fmt.Errorf("%q is not a public key: the format is NAME:BASE64, as den cache keygen prints it", s)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("public key %q: the part after the colon is not base64", name)
	}
	if len(key) != 32 {
		if len(key) == 64 {
			return fmt.Errorf("public key %q is 64 bytes long: that is a secret key; never share it, use its .pub file", name)
		}
		return fmt.Errorf("public key %q is %d bytes long, an ed25519 public key is 32", name, len(key))
	}
	return nil
}

// readCaches lets DEN_SUBSTITUTERS and DEN_TRUSTED_PUBLIC_KEYS (space-separated, as CI sets
// them) replace the config file's lists, then checks every entry, naming where it came from.
func (c *Config) readCaches(getenv Getenv) error {
	subsFrom := c.File + ": substituters"
	if v := strings.Fields(getenv("DEN_SUBSTITUTERS")); len(v) > 0 {
		c.User.Substituters, subsFrom = v, "DEN_SUBSTITUTERS"
	}
	keysFrom := c.File + ": trusted-public-keys"
	if v := strings.Fields(getenv("DEN_TRUSTED_PUBLIC_KEYS")); len(v) > 0 {
		c.User.TrustedPublicKeys, keysFrom = v, "DEN_TRUSTED_PUBLIC_KEYS"
	}
	var errs []error
	for i, s := range c.User.Substituters {
		if err := CheckSubstituter(s); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %v", subsFrom, i, err))
		}
	}
	for i, s := range c.User.Caches.Push {
		if err := CheckSubstituter(s); err != nil {
			errs = append(errs, fmt.Errorf("%s: caches.push[%d]: %v", c.File, i, err))
		}
	}
	if k := c.User.Caches.PushKey; k != "" {
		if strings.HasPrefix(k, "~/") && getenv("HOME") != "" {
			k = filepath.Join(getenv("HOME"), k[2:])
		}
		if !filepath.IsAbs(k) {
			k = filepath.Join(filepath.Dir(c.File), k)
		}
		c.User.Caches.PushKey = filepath.Clean(k)
	}
	if len(c.User.Caches.Push) > 0 && c.User.Caches.PushKey == "" && getenv("DEN_CACHE_KEY") == "" {
		errs = append(errs, fmt.Errorf("%s: caches.push names caches but no push-key signs for them; set push-key = \"PATH/NAME.sec\" (den cache keygen NAME makes one) or DEN_CACHE_KEY", c.File))
	}
	for i, k := range c.User.TrustedPublicKeys {
		if err := CheckPublicKey(k); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %v", keysFrom, i, err))
		}
	}
	return errors.Join(errs...)
}
