package main

import (
	"regexp"
	"slices"
	"strings"

	"github.com/byok-go/byok/supabase/migrations"
)

// schema is what byok's migrations leave in schema public, read from their SQL: the doctor
// judges these objects and no others, so a user's own tables and functions in public are
// left alone, and a new migration is covered without a change here.
type schema struct {
	tables    []*sqlTable    // in order of creation
	functions []*sqlFunction // every function, SECURITY DEFINER or not
	policies  []*sqlPolicy
	triggers  []*sqlTrigger
}

// sqlTable is a table a migration creates.
type sqlTable struct {
	name      string // without schema
	migration string // <version>_<name> of the migration that created it
}

// sqlFunction is a function a migration creates, by name: every overload of the name is
// judged.
type sqlFunction struct {
	name      string
	definer   bool // SECURITY DEFINER, as the last statement that defined it says
	migration string
}

// sqlPolicy is a row level security policy a migration creates.
type sqlPolicy struct {
	name, table string
	permissive  bool     // AS PERMISSIVE (the default) or AS RESTRICTIVE
	cmd         string   // ALL, SELECT, INSERT, UPDATE or DELETE, as pg_policies spells it
	roles       []string // sorted; "public" when the statement names none
	using       string   // the USING expression as written, "" when absent
	check       string   // the WITH CHECK expression as written, "" when absent
	stmt        string   // the CREATE POLICY statement, to print as the fix
	migration   string
}

// sqlTrigger is a trigger a migration creates on a table in public.
type sqlTrigger struct {
	name, table, function string
	stmt                  string // the CREATE TRIGGER statement, to print as the fix
	migration             string
}

// definers returns the SECURITY DEFINER functions.
func (s *schema) definers() []*sqlFunction {
	var out []*sqlFunction
	for _, f := range s.functions {
		if f.definer {
			out = append(out, f)
		}
	}
	return out
}

// table returns the table named name, or nil.
func (s *schema) table(name string) *sqlTable {
	for _, t := range s.tables {
		if t.name == name {
			return t
		}
	}
	return nil
}

// An identifier, quoted or not, after lower-casing; group 1 is its name.
const ident = `"?([a-z_][a-z0-9_$]*)"?`

var (
	reCreateTable    = regexp.MustCompile(`^create (?:(?:global |local )?(?:temporary |temp )|unlogged )?table (?:if not exists )?public\.` + ident)
	reDropTable      = regexp.MustCompile(`^drop table `)
	reCreateFunction = regexp.MustCompile(`^create (?:or replace )?function public\.` + ident + ` ?\(`)
	reAlterFunction  = regexp.MustCompile(`^alter function public\.` + ident + `\b.*\bsecurity (definer|invoker)\b`)
	reDropFunction   = regexp.MustCompile(`^drop function `)
	rePublicName     = regexp.MustCompile(`\bpublic\.` + ident)
	reCreateTrigger  = regexp.MustCompile(`^create (?:or replace )?(?:constraint )?trigger ` + ident + ` .*? on (?:only )?public\.` + ident + ` .*\bexecute (?:function|procedure) public\.` + ident)
	reDropTrigger    = regexp.MustCompile(`^drop trigger (?:if exists )?` + ident + ` on public\.` + ident)
	reCreatePolicy   = regexp.MustCompile(`^create policy ` + ident + ` on public\.` + ident + `(.*)$`)
	reDropPolicy     = regexp.MustCompile(`^drop policy (?:if exists )?` + ident + ` on public\.` + ident)
	rePolicyClauses  = regexp.MustCompile(`^(?: as (permissive|restrictive))?(?: for (all|select|insert|update|delete))?(?: to (.+?))?(?: using | with check |$)`)
	reSecDefiner     = regexp.MustCompile(`\bsecurity definer\b`)
)

// parseSchema reads what ms leave in public, applying them in order: a later CREATE OR
// REPLACE redefines a function, a DROP removes what it names. Only objects named with the
// public. prefix count, as byok's migrations always write them.
func parseSchema(ms []migrations.Migration) *schema {
	s := &schema{}
	for _, m := range ms {
		from := m.Version + "_" + m.Name
		for _, st := range splitSQL(m.SQL) {
			s.apply(st, from)
		}
	}
	return s
}

func (s *schema) apply(st statement, from string) {
	h := st.head
	switch {
	case reCreateTable.MatchString(h):
		name := reCreateTable.FindStringSubmatch(h)[1]
		if s.table(name) == nil {
			s.tables = append(s.tables, &sqlTable{name: name, migration: from})
		}
	case reDropTable.MatchString(h):
		for _, m := range rePublicName.FindAllStringSubmatch(h, -1) {
			s.tables = slices.DeleteFunc(s.tables, func(t *sqlTable) bool { return t.name == m[1] })
			s.policies = slices.DeleteFunc(s.policies, func(p *sqlPolicy) bool { return p.table == m[1] })
			s.triggers = slices.DeleteFunc(s.triggers, func(t *sqlTrigger) bool { return t.table == m[1] })
		}
	case reCreateFunction.MatchString(h):
		name := reCreateFunction.FindStringSubmatch(h)[1]
		s.functions = slices.DeleteFunc(s.functions, func(f *sqlFunction) bool { return f.name == name })
		s.functions = append(s.functions, &sqlFunction{name: name, definer: reSecDefiner.MatchString(h), migration: from})
	case reAlterFunction.MatchString(h):
		m := reAlterFunction.FindStringSubmatch(h)
		for _, f := range s.functions {
			if f.name == m[1] {
				f.definer = m[2] == "definer"
			}
		}
	case reDropFunction.MatchString(h):
		for _, m := range rePublicName.FindAllStringSubmatch(h, -1) {
			s.functions = slices.DeleteFunc(s.functions, func(f *sqlFunction) bool { return f.name == m[1] })
		}
	case reCreateTrigger.MatchString(h):
		m := reCreateTrigger.FindStringSubmatch(h)
		s.triggers = slices.DeleteFunc(s.triggers, func(t *sqlTrigger) bool { return t.name == m[1] && t.table == m[2] })
		s.triggers = append(s.triggers, &sqlTrigger{name: m[1], table: m[2], function: m[3], stmt: st.text, migration: from})
	case reDropTrigger.MatchString(h):
		m := reDropTrigger.FindStringSubmatch(h)
		s.triggers = slices.DeleteFunc(s.triggers, func(t *sqlTrigger) bool { return t.name == m[1] && t.table == m[2] })
	case reCreatePolicy.MatchString(h):
		m := reCreatePolicy.FindStringSubmatch(h)
		p := &sqlPolicy{name: m[1], table: m[2], permissive: true, cmd: "ALL", roles: []string{"public"},
			stmt: st.text, migration: from}
		if c := rePolicyClauses.FindStringSubmatch(m[3]); c != nil {
			p.permissive = c[1] != "restrictive"
			if c[2] != "" {
				p.cmd = strings.ToUpper(c[2])
			}
			if c[3] != "" {
				p.roles = nil
				for r := range strings.SplitSeq(c[3], ",") {
					p.roles = append(p.roles, strings.Trim(strings.TrimSpace(r), `"`))
				}
				slices.Sort(p.roles)
			}
		}
		p.using = clause(m[3], " using ")
		p.check = clause(m[3], " with check ")
		s.policies = slices.DeleteFunc(s.policies, func(q *sqlPolicy) bool { return q.name == p.name && q.table == p.table })
		s.policies = append(s.policies, p)
	case reDropPolicy.MatchString(h):
		m := reDropPolicy.FindStringSubmatch(h)
		s.policies = slices.DeleteFunc(s.policies, func(p *sqlPolicy) bool { return p.name == m[1] && p.table == m[2] })
	}
}

// clause returns the parenthesized expression after keyword in s, without its outer
// parentheses, or "".
func clause(s, keyword string) string {
	i := strings.Index(s, keyword+"(")
	if i < 0 {
		return ""
	}
	rest := s[i+len(keyword):]
	depth := 0
	for j, c := range rest {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return strings.TrimSpace(rest[1:j])
			}
		}
	}
	return ""
}

// statement is one SQL statement of a migration.
type statement struct {
	text string // as written, from its first token to the end, without the semicolon
	head string // lower-cased, comments dropped, white space collapsed, dollar-quoted bodies as $$
}

// splitSQL splits a migration into statements at semicolons outside comments, quoted
// strings and identifiers, and dollar-quoted bodies.
func splitSQL(sql string) []statement {
	var (
		out   []statement
		head  strings.Builder
		start = -1 // index of the current statement's first token
	)
	space := func() {
		if head.Len() > 0 && !strings.HasSuffix(head.String(), " ") {
			head.WriteByte(' ')
		}
	}
	flush := func(end int) {
		if start >= 0 {
			h := strings.TrimSpace(head.String())
			if h != "" {
				out = append(out, statement{text: strings.TrimSpace(sql[start:end]), head: h})
			}
		}
		head.Reset()
		start = -1
	}
	mark := func(i int) {
		if start < 0 {
			start = i
		}
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = len(sql) - i
			}
			i += j
			space()
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			depth, j := 0, i
			for j < len(sql) {
				if strings.HasPrefix(sql[j:], "/*") {
					depth, j = depth+1, j+2
				} else if strings.HasPrefix(sql[j:], "*/") {
					depth, j = depth-1, j+2
					if depth == 0 {
						break
					}
				} else {
					j++
				}
			}
			i = j
			space()
		case c == '\'' || c == '"':
			mark(i)
			// E'...' strings may escape the quote with a backslash.
			backslash := c == '\'' && i > 0 && (sql[i-1] == 'e' || sql[i-1] == 'E') &&
				(i == 1 || !isIdentByte(sql[i-2]))
			j := i + 1
			for j < len(sql) {
				if backslash && sql[j] == '\\' {
					j += 2
					continue
				}
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			j = min(j+1, len(sql))
			head.WriteString(strings.ToLower(sql[i:j]))
			i = j
		case c == '$' && dollarTag(sql[i:]) != "" && (i == 0 || !isIdentByte(sql[i-1])):
			mark(i)
			tag := dollarTag(sql[i:])
			end := strings.Index(sql[i+len(tag):], tag)
			if end < 0 {
				i = len(sql)
			} else {
				i += len(tag) + end + len(tag)
			}
			space()
			head.WriteString("$$")
		case c == ';':
			flush(i)
			i++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			space()
			i++
		default:
			mark(i)
			head.WriteByte(lower(c))
			i++
		}
	}
	flush(len(sql))
	return out
}

// dollarTag returns the dollar-quote opening s starts with ($$ or $tag$), or "".
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '$':
			return s[:j+1]
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || (j > 1 && c >= '0' && c <= '9'):
		default:
			return "" // $1 is a parameter, not a quote
		}
	}
	return ""
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
