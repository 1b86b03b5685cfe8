package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// maxBody is the largest request body accepted.
const maxBody = 64 << 10

// decode reads r's body, at most maxBody bytes, as one JSON object with only the fields
// of dst (a pointer to a struct with json tags). It answers the error itself and reports
// false on failure: a Content-Type other than application/json (a charset parameter may
// say utf-8) is 415; anything but exactly one object with distinct field names spelled as
// in dst, valid UTF-8 and values of the fields' types is 400.
func decode(w *recorder, r *http.Request, dst any) bool {
	if !jsonContentType(r.Header.Values("Content-Type")) {
		w.fail(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			w.fail(http.StatusRequestEntityTooLarge, codeTooLarge, "Request body exceeds 64 KiB")
			return false
		}
		w.fail(http.StatusBadRequest, codeInvalidRequest, "Request body could not be read")
		return false
	}
	if reason := checkJSON(body, jsonFields(dst)); reason != "" {
		w.fail(http.StatusBadRequest, codeInvalidRequest, reason)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		w.fail(http.StatusBadRequest, codeInvalidRequest, "A field has the wrong type")
		return false
	}
	return true
}

// jsonContentType reports whether the request's single Content-Type is application/json,
// with no parameter but an optional charset=utf-8.
func jsonContentType(values []string) bool {
	if len(values) != 1 {
		return false
	}
	mt, params, err := mime.ParseMediaType(values[0])
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

// maxJSONDepth bounds the nesting checkJSON walks; request bodies are flat objects.
const maxJSONDepth = 8

// checkJSON checks what encoding/json lets through: body must be valid UTF-8 holding one
// JSON object whose field names are exactly those of fields (json matches names in any
// case), with no field null, no name repeated in any object (json keeps the last), and no
// string holding U+FFFD (json writes it for an escaped lone surrogate). It returns a fixed
// reason, or "" when the body passes. Types are left to the decoder.
func checkJSON(body []byte, fields map[string]bool) string {
	if !utf8.Valid(body) {
		return "Request body is not valid UTF-8"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "Request body must be one JSON object"
	}
	if reason := checkObject(dec, fields, 1); reason != "" {
		return reason
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "Request body must be one JSON object"
	}
	return ""
}

// checkObject reads an object's members up to its closing brace, its opening brace already
// read. fields, when not nil, are the only names allowed, and their values must not be null.
func checkObject(dec *json.Decoder, fields map[string]bool, depth int) string {
	seen := map[string]bool{}
	for {
		t, err := dec.Token()
		if err != nil {
			return "Malformed JSON body"
		}
		if t == json.Delim('}') {
			return ""
		}
		name, ok := t.(string)
		switch {
		case !ok:
			return "Malformed JSON body"
		case strings.ContainsRune(name, utf8.RuneError):
			return "Request body is not valid UTF-8"
		case seen[name]:
			return "A field appears more than once"
		case fields != nil && !fields[name]:
			return "Unknown field, or a field name in the wrong case"
		}
		seen[name] = true
		t, err = dec.Token()
		if err != nil {
			return "Malformed JSON body"
		}
		if fields != nil && t == nil {
			return "A field is null"
		}
		if reason := checkValue(dec, t, depth); reason != "" {
			return reason
		}
	}
}

// checkValue checks the value that starts with token t.
func checkValue(dec *json.Decoder, t json.Token, depth int) string {
	switch v := t.(type) {
	case string:
		if strings.ContainsRune(v, utf8.RuneError) {
			return "Request body is not valid UTF-8"
		}
	case json.Delim:
		if depth >= maxJSONDepth {
			return "Request body is nested too deeply"
		}
		if v == '{' {
			return checkObject(dec, nil, depth+1)
		}
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return "Malformed JSON body"
			}
			if reason := checkValue(dec, t, depth+1); reason != "" {
				return reason
			}
		}
		if t, err := dec.Token(); err != nil || t != json.Delim(']') {
			return "Malformed JSON body"
		}
	}
	return ""
}

// jsonFields is the set of JSON field names of the struct dst points to.
func jsonFields(dst any) map[string]bool {
	t := reflect.TypeOf(dst).Elem()
	fields := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = true
		}
	}
	return fields
}
