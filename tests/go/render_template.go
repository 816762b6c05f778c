// Renders an Ollama TEMPLATE with Go's own text/template, the engine Ollama runs, so tests
// compare Forge's training text with what Ollama would really give the model.
// stdin: {"template": "...", "messages": [{"role": "...", "content": "..."}], "system": "..."}
// stdout: the rendered text, exactly.
package main

import (
	"encoding/json"
	"os"
	"text/template"
	"time"
)

// Ollama's api.Message (the fields its templates read); tool calls and images: none here.
type Message struct {
	Role      string     `json:"role"`
	Content   string     `json:"content"`
	Thinking  string     `json:"thinking"`
	Images    []string   `json:"images"`
	ToolCalls []ToolCall `json:"tool_calls"`
	ToolName  string     `json:"tool_name"`
}

type ToolCall struct {
	Function struct {
		Index     int            `json:"index"`
		Name      string         `json:"name"`
		Arguments map[string]any `json:"arguments"`
	} `json:"function"`
}

type Tool struct {
	Type     string         `json:"type"`
	Function map[string]any `json:"function"`
}

type Input struct {
	Template string    `json:"template"`
	Messages []Message `json:"messages"`
	System   string    `json:"system"`
}

// Ollama's template functions (template/template.go's funcs), so its TEMPLATEs parse here.
var funcs = template.FuncMap{
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
	"currentDate":   func(args ...string) string { return time.Now().Format("2006-01-02") },
	"yesterdayDate": func(args ...string) string { return time.Now().AddDate(0, 0, -1).Format("2006-01-02") },
}

func main() {
	var in Input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		os.Stderr.WriteString("bad input: " + err.Error() + "\n")
		os.Exit(2)
	}
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(in.Template)
	if err != nil {
		os.Stderr.WriteString("bad template: " + err.Error() + "\n")
		os.Exit(3)
	}
	// What Ollama's template.Execute gives a TEMPLATE that reads .Messages: a map, so a key
	// it does not set is no error (Prompt: Ollama's older form, empty here).
	values := map[string]any{"System": in.System, "Messages": in.Messages, "Tools": []Tool(nil),
		"Prompt": "", "Response": "", "Think": false, "ThinkLevel": "", "IsThinkSet": false}
	if err := tmpl.Execute(os.Stdout, values); err != nil {
		os.Stderr.WriteString("render failed: " + err.Error() + "\n")
		os.Exit(4)
	}
}
