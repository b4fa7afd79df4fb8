// Command boltsession inspects and maintains a boltsession session file:
// counts, lists, shows and removes sessions, sweeps expired ones, compacts
// and backs up the file, exports and imports sessions as JSON Lines,
// re-encrypts session values under a new key, and converts a file of an
// older format.
//
// Sessions are named by their handles (boltsession.Handle), the SHA-256
// of their IDs, under which the file keeps them: the file holds no session
// ID, and no command prints one. rm also takes a session ID or a cookie
// value, and hashes it.
//
// A file whose values are encrypted (an app opened it with
// BoltOptions.ValueKeys) opens only with its keys: every command that
// opens one takes them from an environment variable (--value-keys-env) or
// a file (--value-keys-file), one base64 key a line, the first sealing,
// never from the command line.
//
// Install it with
//
//	go install github.com/boltsession/boltsession/cmd/boltsession@latest
//
// and run `boltsession help` for the commands, `boltsession COMMAND --help`
// for one command with an example.
//
// bbolt lets one process at a time hold a file, so the commands work on a
// file no app has open. On a file a running app holds, a command fails
// within about a second and says so; a live app offers the same operations
// through the admin package's Handler (github.com/boltsession/boltsession/admin).
//
// Every command takes --json, which prints its result as JSON (one object,
// or one a line for ls) instead of text; each command's --help shows the
// fields.
//
// Exit status: 0 when the command did what was asked, 1 when it failed
// (the reason is one line on standard error, also with --json), 2 for a
// usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// env is what a command reads and writes: the process's standard streams
// in main, buffers in tests.
type env struct {
	// ctx is cancelled by the first interrupt (Ctrl-C) or SIGTERM: the
	// command stops and leaves its files as they were. A second interrupt
	// ends the process at once.
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	progress       bool // draw progress bars on stderr (a terminal)
}

// command is one subcommand.
type command struct {
	name    string
	usage   string // arguments, after the command name
	summary string
	example string
	// json is what --json prints: one JSON object a line, each example
	// line a valid object holding every field the command may print.
	json string
	run  func(e *env, c *command, args []string) error
}

// commands lists the subcommands in the order help shows them. It is
// filled in init because the help command refers to it.
var commands []*command

func init() {
	commands = []*command{
		statsCommand, lsCommand, showCommand, rmCommand, sweepCommand,
		compactCommand, backupCommand, exportCommand, importCommand,
		rekeyCommand, upgradeCommand, salvageCommand,
	}
	commands = append(commands, importerCommands...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the next signal gets its default action: exit now
	}()
	e := &env{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, progress: stderrIsTerminal()}
	os.Exit(run(e, os.Args[1:]))
}

// run executes one command line and returns the exit status.
func run(e *env, args []string) int {
	if len(args) == 0 {
		printOverview(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				printCommandHelp(e.stdout, c, nil)
				return exitOK
			}
			fmt.Fprintf(e.stderr, "boltsession: unknown command %q\n", args[1])
			return exitUsage
		}
		printOverview(e.stdout)
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.stderr, "boltsession: unknown command %q (run 'boltsession help')\n", name)
		return exitUsage
	}
	err := c.run(e, c, args[1:])
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "boltsession %s: %s\nusage: boltsession %s %s (see 'boltsession %s --help')\n",
			c.name, ue.msg, c.name, c.usage, c.name)
		return exitUsage
	default:
		fmt.Fprintln(e.stderr, oneLine(err))
		return exitFailed
	}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func printOverview(w io.Writer) {
	fmt.Fprintln(w, "boltsession inspects and maintains a boltsession session file.")
	fmt.Fprintln(w, "\nusage: boltsession COMMAND [ARGS] [FLAGS]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-17s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'boltsession COMMAND --help' for a command's flags, its --json output and an example.")
	fmt.Fprintln(w, "Exit status: 0 ok, 1 failed (one line on stderr), 2 usage error.")
}

func printCommandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: boltsession %s %s\n\n%s\n", c.name, c.usage, c.summary)
	if fs != nil {
		var flags strings.Builder
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(&flags, "  --%s", f.Name)
			if name != "" {
				fmt.Fprintf(&flags, " %s", name)
			}
			fmt.Fprintf(&flags, "\n    \t%s", usage)
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
				fmt.Fprintf(&flags, " (default %s)", f.DefValue)
			}
			flags.WriteString("\n")
		})
		if flags.Len() > 0 {
			fmt.Fprintf(w, "\nflags:\n%s", flags.String())
		}
	}
	if c.json != "" {
		fmt.Fprintf(w, "\n--json prints (fields without a value are left out):\n%s\n", indent(c.json, "  "))
	}
	fmt.Fprintf(w, "\nexample:\n%s\n", indent(c.example, "  "))
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// usageError is a command line that does not fit the command: exit 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// parseExactly parses args as parse does and requires exactly the
// positional arguments names lists ("FILE"; "DIR", "FILE"), so that every
// command words the usage error alike.
func parseExactly(e *env, c *command, fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	pos, err := parse(e, c, fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(names) {
		want := strings.Join(names, " and ")
		if len(names) == 1 {
			want = "one " + want
		}
		return nil, usagef("want %s, got %d arguments", want, len(pos))
	}
	return pos, nil
}

// parse parses a command's flags, which may come before, between or after
// its positional arguments (`ls FILE --limit 5` and `ls --limit 5 FILE`
// alike); everything after "--" is positional, for IDs that start with "-".
// It prints the command's help and returns flag.ErrHelp for -h/--help.
func parse(e *env, c *command, fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(e.stdout, c, fs)
			return nil, flag.ErrHelp
		}
		if err != nil {
			return nil, usageError{err.Error()}
		}
		consumed := len(args) - fs.NArg()
		rest := fs.Args()
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// oneLine renders err as the single line the CLI prints, prefixed once
// with "boltsession: ".
func oneLine(err error) string {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "boltsession: ", "")), " ")
	return "boltsession: " + msg
}
