package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/config"
)

// MaxBodySize is the default request body limit of the Authentication API
// (config max_body_bytes).
const MaxBodySize = config.DefaultMaxBodyBytes

// readBody makes the request body available to PostBody, refusing bodies
// over limit (0: MaxBodySize) with 413, chunked ones included. The server
// streams request bodies (so that uploads through the edge are not held in
// memory); under streaming fasthttp enforces no body limit itself (its
// MaxRequestBodySize only sizes what it reads ahead), and PostBody would
// read a stream of any length into memory. So the limit is applied here, by
// reading through a limit before any handler of the API sees the body.
func readBody(rc *fasthttp.RequestCtx, limit int) error {
	if limit <= 0 {
		limit = MaxBodySize
	}
	if !rc.Request.IsBodyStream() {
		// Not streamed: a server without StreamRequestBody read it already.
		if len(rc.Request.Body()) > limit {
			return tooLarge(limit)
		}
		return nil
	}
	if rc.Request.Header.ContentLength() > limit {
		return tooLarge(limit)
	}
	body, err := io.ReadAll(io.LimitReader(rc.RequestBodyStream(), int64(limit)+1))
	if err != nil {
		if isTimeout(err) {
			return errTimeout.wrap(err)
		}
		return errBadRequest.wrap(err)
	}
	if len(body) > limit {
		return tooLarge(limit)
	}
	rc.Request.SetBodyRaw(body)
	return nil
}

// decodeBody reads a JSON object into dst (a pointer to a struct). The
// request must declare a JSON type, or none (checkJSONType); the body must
// be valid UTF-8 and one object whose fields have the declared types;
// unknown fields are ignored. Anything else is INVALID_JSON.
func decodeBody(rc *fasthttp.RequestCtx, dst any) error {
	if err := checkJSONType(rc); err != nil {
		return err
	}
	return decodeJSON(rc.PostBody(), dst)
}

// checkJSONType refuses a body declared as anything but JSON with 415. The
// three types a web page may post to another site without a preflight
// (text/plain, application/x-www-form-urlencoded, multipart/form-data) are
// what matters: refusing them keeps a hostile page from logging a visitor
// in or completing a CLI login with a form. Every other non-JSON type is
// refused too, so that no type is read as JSON by guesswork. Accepted:
// application/json and any application/*+json, in any case, with any
// parameters; and no Content-Type at all (a browser cannot send a
// cross-site body without one, and scripts often leave it out).
func checkJSONType(rc *fasthttp.RequestCtx) error {
	ct := bytes.TrimSpace(rc.Request.Header.ContentType())
	if len(ct) == 0 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(string(ct))
	if err == nil && (mt == "application/json" ||
		strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json") && len(mt) > len("application/+json")) {
		return nil
	}
	return errUnsupportedMediaType
}

func decodeJSON(body []byte, dst any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' || !utf8.Valid(body) {
		return errInvalidJSON
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return errInvalidJSON.wrap(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errInvalidJSON
	}
	return nil
}

// writeJSON answers with v as JSON. Responses of the Authentication API carry
// credentials or identities, so none may be cached.
func writeJSON(rc *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own response types reach here; they always marshal,
		// and so does the envelope.
		status = errInternal.Status
		b, _ = json.Marshal(envelope(errInternal))
	}
	rc.Response.Header.Set("Cache-Control", "no-store")
	rc.Response.Header.Set("X-Content-Type-Options", "nosniff")
	rc.SetContentType("application/json")
	rc.SetStatusCode(status)
	rc.SetBody(b)
}
