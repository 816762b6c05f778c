// Renders an Ollama TEMPLATE with Go's own text/template, the engine Ollama runs, so tests
// compare Forge's training text with what Ollama would really give the model.
// stdin: {"template": "...", "messages": [{"role": "...", "content": "..."}], "system": "..."}
// stdout: the rendered text, exactly.
package main

import (
	"encoding/json"
	"os"
	"text/template"
)

type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type Input struct {
	Template string    `json:"template"`
	Messages []Message `json:"messages"`
	System   string    `json:"system"`
}

// The fields Ollama's templates see (template.Values in Ollama's source).
type Values struct {
	Messages []Message
	System   string
	Prompt   string
	Response string
}

func main() {
	var in Input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		os.Stderr.WriteString("bad input: " + err.Error() + "\n")
		os.Exit(2)
	}
	tmpl, err := template.New("").Parse(in.Template)
	if err != nil {
		os.Stderr.WriteString("bad template: " + err.Error() + "\n")
		os.Exit(3)
	}
	if err := tmpl.Execute(os.Stdout, Values{Messages: in.Messages, System: in.System}); err != nil {
		os.Stderr.WriteString("render failed: " + err.Error() + "\n")
		os.Exit(4)
	}
}
