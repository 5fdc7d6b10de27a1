package authn

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// Two rules of the JWT RFCs that golang-jwt does not enforce, checked on a
// token whose signature has just verified (so only the first verification
// of a token pays for the second decoding: the TokenCache spares the rest).
var (
	// errCritical: RFC 7515 §4.1.11 says a recipient must refuse a token
	// whose "crit" names an extension it does not understand. This service
	// understands none, so any "crit" (even an empty or malformed one) is
	// refused: there is no spelling of it that could be safely ignored.
	errCritical = errors.New("header names critical extensions")
	// errNumericDate: RFC 7519 §2 makes exp, nbf and iat JSON numbers.
	// golang-jwt reads them through json.Number, which also takes a quoted
	// number ("9999999999"), so a token whose expiry another verifier reads
	// as absent or invalid would pass here.
	errNumericDate = errors.New("exp, nbf or iat is not a JSON number")
)

// numericDateClaims are the claims that must be NumericDates.
var numericDateClaims = [...]string{"exp", "nbf", "iat"}

// checkJOSE applies those rules to a compact JWS whose signature verified.
// Errors do not echo the token's contents.
func checkJOSE(tok string) error {
	head, rest, _ := strings.Cut(tok, ".")
	payload, _, _ := strings.Cut(rest, ".")
	var h map[string]json.RawMessage
	if err := decodeSegment(head, &h); err != nil {
		return err
	}
	if _, ok := h["crit"]; ok {
		return errCritical
	}
	var c map[string]json.RawMessage
	if err := decodeSegment(payload, &c); err != nil {
		return err
	}
	for _, name := range numericDateClaims {
		if v, ok := c[name]; ok && !isJSONNumber(v) {
			return errNumericDate
		}
	}
	return nil
}

// decodeSegment decodes one base64url segment holding a JSON object. The
// parser has read the same bytes already, so a failure here means the two
// readings disagree, and the token is refused.
func decodeSegment(seg string, dst *map[string]json.RawMessage) error {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return errors.New("segment is not base64url")
	}
	if err := json.Unmarshal(raw, dst); err != nil || *dst == nil {
		return errors.New("segment is not a JSON object")
	}
	return nil
}

// isJSONNumber reports whether a JSON value (already known to be valid JSON)
// is a number: a number is the only JSON value that starts with '-' or a
// digit.
func isJSONNumber(v json.RawMessage) bool {
	return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}
