package authn

import "testing"

func TestKeyPrefixOf(t *testing.T) {
	key, _ := GenerateKey()
	tests := []struct {
		c    Credentials
		want string
	}{
		{Credentials{APIKey: key.Raw}, key.Prefix},
		{Credentials{Authorization: "Bearer " + key.Raw}, key.Prefix},
		{Credentials{APIKey: "zec_"}, ""},
		{Credentials{APIKey: "zec_a b!secret"}, ""},
		{Credentials{APIKey: "hunter2-password"}, ""},
		{Credentials{Authorization: "Bearer eyJhbGciOi"}, ""},
	}
	for _, tc := range tests {
		if got := KeyPrefixOf(tc.c); got != tc.want {
			t.Errorf("KeyPrefixOf(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestCredentialsKind(t *testing.T) {
	key, _ := GenerateKey()
	tests := []struct {
		c    Credentials
		want string
	}{
		{Credentials{}, ""},
		{Credentials{APIKey: key.Raw}, "api_key"},
		{Credentials{APIKey: "hunter2-password"}, "api_key"},
		{Credentials{Authorization: "Bearer " + key.Raw}, "api_key"},
		{Credentials{Authorization: "Bearer eyJhbGciOi"}, "bearer"},
		{Credentials{Authorization: "Basic dXNlcjpwdw=="}, ""},
	}
	for _, tc := range tests {
		if got := tc.c.Kind(); got != tc.want {
			t.Errorf("%+v.Kind() = %q, want %q", tc.c, got, tc.want)
		}
	}
}
