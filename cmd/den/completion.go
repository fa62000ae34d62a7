package main

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/den-sh/den/core/index"
)

// CompletionCmd prints a shell completion script. The script is generated from kong's model of
// den's command line and the built-in package index each time, so it never lists a command, flag
// or package that den no longer has; reinstalling it after an upgrade picks up new ones.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

// Help says how to install the script, which is the first thing a user needs.
func (c *CompletionCmd) Help() string {
	return "Install it with one of:\n\n" +
		"  bash: add 'source <(den completion bash)' to ~/.bashrc\n" +
		"  zsh:  den completion zsh > \"${fpath[1]}/_den\" (or 'source <(den completion zsh)' after compinit in ~/.zshrc)\n" +
		"  fish: den completion fish > ~/.config/fish/completions/den.fish"
}

func (c *CompletionCmd) Run(a *App) error {
	// A parser of our own: Run has no handle on the one main built, and the model only depends
	// on the CLI type and the variables its tags interpolate.
	parser, err := kong.New(&CLI{}, kong.Name("den"), kong.Vars{"version": denVersion})
	if err != nil {
		return err
	}
	ix, err := index.Load()
	if err != nil {
		return err
	}
	root := completionTree(parser.Model.Node, "")
	// den help takes a command's name.
	for _, c := range root.Commands {
		if c.Name == "help" && len(c.Args) > 0 {
			c.Args[0].Enum, c.Args[0].Files = root.commandNames(), false
		}
	}
	pkgs := completionPackages(ix)
	switch c.Shell {
	case "bash":
		return writeBashCompletion(a.Stdout, root, pkgs)
	case "zsh":
		return writeZshCompletion(a.Stdout, root, pkgs)
	case "fish":
		return writeFishCompletion(a.Stdout, root, pkgs)
	}
	return &usageError{err: fmt.Errorf("no completion for shell %q", c.Shell), hints: []string{"use bash, zsh or fish"}}
}

// complCommand is a visible command of the model, reduced to what a completion script offers.
type complCommand struct {
	Name, Help string
	Path       string // "store path-info"; "" for den itself
	Flags      []complFlag
	Commands   []*complCommand
	Args       []complArg
	// Passthrough: after the first argument, every word is the argument's, flags included.
	Passthrough bool
}

type complFlag struct {
	Long, Help string
	Short      rune
	Value      string   // what a flag that takes a value calls it; "" for a switch
	Enum       []string // the values a flag accepts, when kong knows them
}

type complArg struct {
	Name     string
	Enum     []string
	Packages bool // a package of the index
	Files    bool // a file name; other arguments (numbers, search terms) have nothing to offer
	Repeats  bool
	Optional bool
}

type complPackage struct{ Name, Help string }

func completionTree(n *kong.Node, path string) *complCommand {
	c := &complCommand{Name: n.Name, Help: oneLine(n.Help), Path: path}
	if n.Type == kong.ApplicationNode {
		c.Name = "den"
	}
	for _, group := range n.AllFlags(true) {
		for _, f := range group {
			cf := complFlag{Long: f.Name, Help: oneLine(f.Help), Short: f.Short}
			if !f.IsBool() && !f.IsCounter() {
				cf.Value = f.Name
				if f.PlaceHolder != "" {
					cf.Value = strings.ToLower(f.PlaceHolder)
				}
				cf.Enum = enumValues(f.Value)
			}
			c.Flags = append(c.Flags, cf)
			if neg := f.Tag.Negatable; neg != "" && f.IsBool() {
				if neg == "_" {
					neg = "no-" + f.Name
				}
				c.Flags = append(c.Flags, complFlag{Long: neg, Help: "Negate --" + f.Name})
			}
		}
	}
	for _, p := range n.Positional {
		c.Args = append(c.Args, complArg{
			Name:     p.Name,
			Enum:     enumValues(p),
			Packages: p.Name == "package",
			Files:    isStrings(p.Target.Type()),
			Repeats:  p.IsCumulative(),
			Optional: !p.Required,
		})
		if p.PassthroughMode != kong.PassThroughModeNone {
			c.Passthrough = true
		}
	}
	for _, child := range n.Children {
		if child.Hidden || child.Type != kong.CommandNode {
			continue
		}
		c.Commands = append(c.Commands, completionTree(child, strings.TrimSpace(path+" "+child.Name)))
	}
	return c
}

func isStrings(t reflect.Type) bool {
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	return t.Kind() == reflect.String
}

func enumValues(v *kong.Value) []string {
	if v.Enum == "" {
		return nil
	}
	var out []string
	for _, e := range v.EnumSlice() {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

// oneLine is the first line of a help text without its final period, as completion menus show it.
func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSuffix(s, ".")
}

func completionPackages(ix *index.Index) []complPackage {
	var out []complPackage
	for _, name := range ix.Names() {
		p := complPackage{Name: name}
		if e, err := ix.Lookup(name); err == nil {
			p.Help = oneLine(e.Description)
		}
		out = append(out, p)
	}
	return out
}

// walk calls f for c and every command below it, parents first.
func (c *complCommand) walk(f func(*complCommand)) {
	f(c)
	for _, sub := range c.Commands {
		sub.walk(f)
	}
}

func (c *complCommand) commandNames() []string {
	var out []string
	for _, sub := range c.Commands {
		out = append(out, sub.Name)
	}
	return out
}

// flagWords lists every spelling of c's flags: --long and -s.
func (c *complCommand) flagWords(valued bool) []string {
	var out []string
	for _, f := range c.Flags {
		if valued && f.Value == "" {
			continue
		}
		out = append(out, f.spellings()...)
	}
	return out
}

// spellings are --long and, if the flag has one, -s.
func (f complFlag) spellings() []string {
	if f.Short == 0 {
		return []string{"--" + f.Long}
	}
	return []string{"--" + f.Long, "-" + string(f.Short)}
}

func packageNames(pkgs []complPackage) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = p.Name
	}
	return out
}

// complQuoteSh quotes s for bash and zsh. (Its own copy: the env command's quoting may move.)
func complQuoteSh(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// complQuoteFish quotes s for fish, where a single-quoted string knows only \\ and \'.
func complQuoteFish(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// writeBashCompletion writes a _den function that finds the command being typed by walking the
// words before the cursor, then offers its flags, subcommands or arguments. The tables are case
// statements keyed by command path, so the script needs no bash-completion package.
func writeBashCompletion(w io.Writer, root *complCommand, pkgs []complPackage) error {
	var b strings.Builder
	b.WriteString(`# bash completion for den, generated by "den completion bash" from den's own command line.
# To install, add this line to ~/.bashrc:
#   source <(den completion bash)

`)
	fmt.Fprintf(&b, "_den_packages=%s\n\n", complQuoteSh(strings.Join(packageNames(pkgs), " ")))

	table := func(name, comment string, row func(*complCommand) []string) {
		fmt.Fprintf(&b, "# %s\n%s() {\n    case $1 in\n", comment, name)
		root.walk(func(c *complCommand) {
			if words := row(c); len(words) > 0 {
				fmt.Fprintf(&b, "    %s) echo %s ;;\n", complQuoteSh(c.Path), complQuoteSh(strings.Join(words, " ")))
			}
		})
		b.WriteString("    esac\n}\n\n")
	}
	table("_den_commands", "_den_commands PATH prints the subcommands of the command at PATH (\"store\").",
		(*complCommand).commandNames)
	table("_den_flags", "_den_flags PATH prints the flags of the command at PATH.",
		func(c *complCommand) []string { return c.flagWords(false) })
	table("_den_valued", "_den_valued PATH prints the flags of the command at PATH that take a value.",
		func(c *complCommand) []string { return c.flagWords(true) })
	var passthrough []string
	root.walk(func(c *complCommand) {
		if c.Passthrough {
			passthrough = append(passthrough, complQuoteSh(c.Path))
		}
	})

	b.WriteString(`# _den_value PATH FLAG completes the value of FLAG.
_den_value() {
    case "$1 $2" in
`)
	root.walk(func(c *complCommand) {
		for _, f := range c.Flags {
			if len(f.Enum) == 0 {
				continue
			}
			for _, spelling := range f.spellings() {
				fmt.Fprintf(&b, "    %s) _den_words %s ;;\n", complQuoteSh(c.Path+" "+spelling), complQuoteSh(strings.Join(f.Enum, " ")))
			}
		}
	})
	b.WriteString(`    *) _den_files ;;
    esac
}

# _den_arg PATH N completes the argument at index N (from 0) of the command at PATH.
_den_arg() {
    case "$1:$2" in
`)
	root.walk(func(c *complCommand) {
		for i, arg := range c.Args {
			key := complQuoteSh(fmt.Sprintf("%s:%d", c.Path, i))
			if arg.Repeats && i == len(c.Args)-1 {
				key = complQuoteSh(c.Path+":") + "*"
			}
			action := ":"
			switch {
			case len(arg.Enum) > 0:
				action = "_den_words " + complQuoteSh(strings.Join(arg.Enum, " "))
			case arg.Packages:
				action = `_den_words "$_den_packages"`
			case arg.Files:
				action = "_den_files"
			}
			fmt.Fprintf(&b, "    %s) %s ;;\n", key, action)
		}
	})
	b.WriteString(`    esac
}

_den_words() {
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

_den_files() {
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

_den() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev='' flag='' prefix=''
    local path='' w i nargs=0 dashdash=0
    COMPREPLY=()
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == -- ]]; then
            dashdash=$i
            break
        fi
        if [[ $w == -* ]] && ! _den_is_passthrough "$path" "$nargs"; then
            # A flag that takes a value consumes the next word (and the "=" bash splits off).
            if [[ $w != *=* && " $(_den_valued "$path") " == *" $w "* ]]; then
                ((i++))
                [[ ${COMP_WORDS[i]} == = ]] && ((i++))
            fi
            continue
        fi
        if ((nargs == 0)) && [[ " $(_den_commands "$path") " == *" $w "* ]]; then
            path=${path:+$path }$w
        else
            ((nargs++))
        fi
    done

    if ((dashdash)); then
        # After --, the words are another program's command line.
        if ((COMP_CWORD == dashdash + 1)); then
            mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
        else
            _den_files
        fi
        return
    fi

    # The value of a flag: "--shell bash", "--shell=bash" (split at = by bash or not).
    if [[ $cur == = ]]; then
        flag=$prev cur=''
    elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
        flag=${COMP_WORDS[COMP_CWORD-2]}
    elif [[ $cur == --*=* ]]; then
        flag=${cur%%=*} prefix=${cur%%=*}= cur=${cur#*=}
    elif [[ $prev == -* ]]; then
        flag=$prev
    fi
    if [[ -n $flag && " $(_den_valued "$path") " == *" $flag "* ]]; then
        _den_value "$path" "$flag"
        if [[ -n $prefix ]]; then
            COMPREPLY=("${COMPREPLY[@]/#/$prefix}")
        fi
        return 0
    fi

    if [[ $cur == -* ]] && ! _den_is_passthrough "$path" "$nargs"; then
        _den_words "$(_den_flags "$path")"
        return
    fi
    local commands
    commands=$(_den_commands "$path")
    if [[ -n $commands ]] && ((nargs == 0)); then
        _den_words "$commands"
        return
    fi
    _den_arg "$path" "$nargs"
}

`)
	b.WriteString("# _den_is_passthrough PATH NARGS: the command at PATH reads its words after its first argument\n# as they are, flags included.\n_den_is_passthrough() {\n    (($2 > 0)) || return 1\n    case $1 in\n")
	if len(passthrough) > 0 {
		fmt.Fprintf(&b, "    %s) return 0 ;;\n", strings.Join(passthrough, " | "))
	}
	b.WriteString("    esac\n    return 1\n}\n\ncomplete -F _den den\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// zshFunc names the completion function of the command at path.
func zshFunc(path string) string {
	if path == "" {
		return "_den"
	}
	return "_den_" + strings.NewReplacer(" ", "_", "-", "_").Replace(path)
}

// zshBracket escapes text for the [description] of an _arguments spec.
func zshBracket(s string) string {
	return strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`).Replace(s)
}

// zshMessage makes text safe for the message field of an _arguments spec, which ends at a colon.
func zshMessage(s string) string {
	return strings.NewReplacer(":", " ", "'", "").Replace(s)
}

func zshAction(enum []string, packages, files bool) string {
	switch {
	case len(enum) > 0:
		return "(" + strings.Join(enum, " ") + ")"
	case packages:
		return "_den_packages"
	case files:
		return "_files"
	}
	return " "
}

// writeZshCompletion writes one function per command: _arguments for its flags and arguments,
// and _describe for its subcommands, whose own functions take over after them.
func writeZshCompletion(w io.Writer, root *complCommand, pkgs []complPackage) error {
	var b strings.Builder
	b.WriteString(`#compdef den
# zsh completion for den, generated by "den completion zsh" from den's own command line.
# To install, either write it to a file named _den in a directory of $fpath:
#   den completion zsh > "${fpath[1]}/_den"
# or add this line to ~/.zshrc after compinit:
#   source <(den completion zsh)

_den_packages() {
    local -a packages
    packages=(
`)
	for _, p := range pkgs {
		fmt.Fprintf(&b, "        %s\n", complQuoteSh(strings.ReplaceAll(p.Name, ":", `\:`)+":"+p.Help))
	}
	b.WriteString("    )\n    _describe -t packages 'package' packages\n}\n")

	root.walk(func(c *complCommand) {
		fmt.Fprintf(&b, "\n%s() {\n", zshFunc(c.Path))
		var specs []string
		for _, f := range c.Flags {
			names := f.spellings()
			exclusive := ""
			if len(names) > 1 {
				exclusive = "(" + strings.Join(names, " ") + ")"
			}
			for _, n := range names {
				spec := exclusive + n
				if f.Value != "" {
					if strings.HasPrefix(n, "--") {
						spec += "="
					}
					spec += "[" + zshBracket(f.Help) + "]:" + zshMessage(f.Value) + ":" + zshAction(f.Enum, false, true)
				} else {
					spec += "[" + zshBracket(f.Help) + "]"
				}
				specs = append(specs, complQuoteSh(spec))
			}
		}
		if len(c.Commands) > 0 {
			b.WriteString("    local curcontext=$curcontext state line\n    typeset -A opt_args\n    local -a commands\n    commands=(\n")
			for _, sub := range c.Commands {
				fmt.Fprintf(&b, "        %s\n", complQuoteSh(sub.Name+":"+sub.Help))
			}
			b.WriteString("    )\n")
			specs = append(specs, "'1: :->command'", "'*:: :->arg'")
			fmt.Fprintf(&b, "    _arguments -C \\\n        %s\n", strings.Join(specs, " \\\n        "))
			fmt.Fprintf(&b, "    case $state in\n    command) _describe -t commands %s commands ;;\n    arg)\n        case $words[1] in\n",
				complQuoteSh(strings.TrimSpace("den "+c.Path)+" command"))
			for _, sub := range c.Commands {
				fmt.Fprintf(&b, "        %s) %s ;;\n", complQuoteSh(sub.Name), zshFunc(sub.Path))
			}
			b.WriteString("        esac ;;\n    esac\n}\n")
			return
		}
		for i, arg := range c.Args {
			pos := fmt.Sprint(i + 1)
			if arg.Repeats && i == len(c.Args)-1 {
				pos = "*"
			}
			sep := ":"
			if arg.Optional && pos != "*" {
				sep = "::"
			}
			action := zshAction(arg.Enum, arg.Packages, arg.Files)
			if c.Passthrough && !arg.Packages && len(arg.Enum) == 0 {
				// The rest of the line is a command of its own.
				pos, sep, action = "*", "::", "_normal"
			}
			specs = append(specs, complQuoteSh(pos+sep+zshMessage(arg.Name)+":"+action))
		}
		fmt.Fprintf(&b, "    _arguments \\\n        %s\n}\n", strings.Join(specs, " \\\n        "))
	})
	b.WriteString(`
# Autoloaded from $fpath, the file's body is _den's and runs on each completion; sourced, it
# registers _den.
if [[ $funcstack[1] == _den ]]; then
    _den "$@"
else
    compdef _den den
fi
`)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFishCompletion writes complete lines conditioned on __den_is PATH, which finds the command
// being typed the way den's parser does, so that "den store add" is not taken for "den add".
func writeFishCompletion(w io.Writer, root *complCommand, pkgs []complPackage) error {
	var b strings.Builder
	b.WriteString(`# fish completion for den, generated by "den completion fish" from den's own command line.
# To install:
#   den completion fish > ~/.config/fish/completions/den.fish

function __den_subcommands
    switch "$argv[1]"
`)
	root.walk(func(c *complCommand) {
		if names := c.commandNames(); len(names) > 0 {
			fmt.Fprintf(&b, "        case %s\n            string split ' ' -- %s\n", complQuoteFish(c.Path), complQuoteFish(strings.Join(names, " ")))
		}
	})
	b.WriteString(`    end
end

function __den_valued
    switch "$argv[1]"
`)
	root.walk(func(c *complCommand) {
		if words := c.flagWords(true); len(words) > 0 {
			fmt.Fprintf(&b, "        case %s\n            string split ' ' -- %s\n", complQuoteFish(c.Path), complQuoteFish(strings.Join(words, " ")))
		}
	})
	b.WriteString(`    end
end

# __den_path prints the den command on the line before the cursor ("store hash").
function __den_path
    set -l words (commandline -opc)
    set -e words[1]
    set -l path
    set -l skip 0
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case --
                break
            case '-*'
                if not string match -q -- '*=*' $w; and contains -- $w (__den_valued "$path")
                    set skip 1
                end
                continue
        end
        if contains -- $w (__den_subcommands "$path")
            set -a path $w
        else
            break
        end
    end
    echo "$path"
end

function __den_is
    set -l path (__den_path)
    test "$path" = "$argv[1]"
end

`)
	root.walk(func(c *complCommand) {
		cond := "-n " + complQuoteFish("__den_is "+complQuoteFish(c.Path))
		if len(c.Commands) > 0 {
			for _, sub := range c.Commands {
				fmt.Fprintf(&b, "complete -c den %s -f -a %s -d %s\n", cond, complQuoteFish(sub.Name), complQuoteFish(sub.Help))
			}
		}
		for _, f := range c.Flags {
			line := "complete -c den " + cond
			if f.Short != 0 {
				line += " -s " + complQuoteFish(string(f.Short))
			}
			line += " -l " + complQuoteFish(f.Long)
			if f.Value != "" {
				line += " -r"
				if len(f.Enum) > 0 {
					line += " -f -a " + complQuoteFish(strings.Join(f.Enum, " "))
				}
			}
			line += " -d " + complQuoteFish(f.Help)
			b.WriteString(line + "\n")
		}
		for _, arg := range c.Args {
			switch {
			case len(arg.Enum) > 0:
				fmt.Fprintf(&b, "complete -c den %s -f -a %s\n", cond, complQuoteFish(strings.Join(arg.Enum, " ")))
			case arg.Packages:
				for _, p := range pkgs {
					fmt.Fprintf(&b, "complete -c den %s -f -a %s -d %s\n", cond, complQuoteFish(p.Name), complQuoteFish(p.Help))
				}
			}
		}
	})
	_, err := io.WriteString(w, b.String())
	return err
}
