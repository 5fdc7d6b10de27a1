package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/valyala/fasthttp"
	"github.com/zectre/zectre-auth/audit"
	"github.com/zectre/zectre-auth/authn"
	"github.com/zectre/zectre-auth/proxy"
	"github.com/zectre/zectre-auth/store"
)

// leakReport is one entry of a secret scanning report.
type leakReport struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// leakLabel is the answer for one entry. The token is named by its SHA-256,
// not repeated: the reporter knows it, and an answer never carries a key.
type leakLabel struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// maxReportField caps what of a report's url and source reaches the log.
const maxReportField = 512

// secretScanningGitHub revokes the zectre keys a signed report names. The
// signature is checked on the body as received, before it is parsed, so an
// unsigned or tampered report revokes nothing and is not even read.
func (a *API) secretScanningGitHub(ctx context.Context, rc *fasthttp.RequestCtx) error {
	if a.SecretScanning == nil {
		return errNotFound
	}
	body := rc.PostBody()
	err := a.SecretScanning.Verify(ctx,
		string(rc.Request.Header.Peek("Github-Public-Key-Identifier")),
		string(rc.Request.Header.Peek("Github-Public-Key-Signature")), body)
	if err != nil {
		return err
	}
	if err := checkJSONType(rc); err != nil {
		return err
	}
	var reports []leakReport
	if err := json.Unmarshal(body, &reports); err != nil {
		return errInvalidJSON.wrap(err)
	}
	out := make([]leakLabel, 0, len(reports))
	// A key named twice in one report is one revocation and two true
	// positives.
	seen := map[[32]byte]string{}
	for _, r := range reports {
		sum := sha256.Sum256([]byte(r.Token))
		label, ok := seen[sum]
		if !ok {
			if label, err = a.revokeLeaked(ctx, rc, r); err != nil {
				return err
			}
			seen[sum] = label
		}
		out = append(out, leakLabel{TokenHash: hex.EncodeToString(sum[:]), TokenType: r.Type, Label: label})
	}
	writeJSON(rc, fasthttp.StatusOK, out)
	return nil
}

// revokeLeaked deletes the key r names, if it is one, by the same path as
// DELETE /api/v1/api-keys/{id}: so it stops on every replica at once.
func (a *API) revokeLeaked(ctx context.Context, rc *fasthttp.RequestCtx, r leakReport) (string, error) {
	digest, err := authn.ParseKey(r.Token)
	if err != nil {
		return "false_positive", nil
	}
	k, err := a.Store.APIKeyByDigest(ctx, digest)
	if errors.Is(err, store.ErrNotFound) {
		return "false_positive", nil
	}
	if err != nil {
		return "", err
	}
	k, err = a.Store.DeleteAPIKey(ctx, k.UserID, k.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "true_positive", nil // revoked meanwhile, by its owner or a concurrent report
	}
	if err != nil {
		return "", err
	}
	a.Log.Warn("api key revoked: reported leaked", "user_id", k.UserID, "key_id", k.ID, "key_prefix", k.Prefix,
		"report_url", clip(r.URL), "report_source", clip(r.Source), "request_id", requestID(rc))
	// The audit line of the revocation, next to those of the key's uses.
	a.record(audit.Attempt{
		Source: "secret_scanning", Path: string(rc.Path()), Client: proxy.ClientAddr(rc, a.Trusted), RequestID: requestID(rc),
		Credentials: authn.Credentials{APIKey: r.Token}, Method: "api_key", UserID: k.UserID, KeyID: k.ID,
		Outcome: "revoked", Reason: "reported leaked at " + clip(r.URL) + " (source " + clip(r.Source) + ")",
	})
	return "true_positive", nil
}

func clip(s string) string {
	if len(s) > maxReportField {
		return s[:maxReportField]
	}
	return s
}
