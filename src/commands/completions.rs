//! `fileio completions`: print the completion script for a shell.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use clap_complete::Shell;

/// Where each shell looks for the script, shown by `fileio completions --help`.
const INSTALL: &str = "\
Load the script from your shell's startup file, or save it where the shell looks for completions:
  bash:        mkdir -p ~/.local/share/bash-completion/completions
               fileio completions bash > ~/.local/share/bash-completion/completions/fileio
  zsh:         mkdir -p ~/.zfunc && fileio completions zsh > ~/.zfunc/_fileio
               (with fpath+=~/.zfunc before compinit in ~/.zshrc)
  fish:        mkdir -p ~/.config/fish/completions
               fileio completions fish > ~/.config/fish/completions/fileio.fish
  PowerShell:  fileio completions powershell | Out-String | Invoke-Expression  (in $PROFILE)
  elvish:      eval (fileio completions elvish | slurp)  (in ~/.config/elvish/rc.elv)

Packagers: the same scripts are in the source tree under completions/.";

/// Print the completion script for a shell on standard output.
#[derive(Debug, Args)]
#[command(after_long_help = INSTALL)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}

/// Writes the script; needs no config, keyring or network.
pub fn run(args: CompletionsArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(&crate::docs::completions(args.shell))?;
    out.flush()?;
    Ok(())
}
