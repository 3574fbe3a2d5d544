# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_fileio_global_optspecs
    string join \n service= server= json q/quiet v/verbose no-progress timeout= retries= api-key-file= no-history config= h/help V/version
end

function __fish_fileio_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    # An option still waiting for its value: no command yet.
    argparse -s (__fish_fileio_global_optspecs) -- $cmd 2>/dev/null
    or return 0
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_fileio_using_subcommand
    set -l cmd (__fish_fileio_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c fileio -n "__fish_fileio_needs_command" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_needs_command" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_needs_command" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_needs_command" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_needs_command" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_needs_command" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_needs_command" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_needs_command" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_needs_command" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_needs_command" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_needs_command" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fileio -n "__fish_fileio_needs_command" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "upload" -d 'Upload files or standard input and print one link per file'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "download" -d 'Download a key or link to a file, a directory or standard output'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "list" -d 'List your files on the service'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "me" -d 'Show your account: plan, storage used, limits'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "update" -d 'Change a file\'s expiry, download limit, name or contents'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "delete" -d 'Delete files from the service'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "info" -d 'Show what the service says about one file'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "services" -d 'List the services fileio speaks and what each can do'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "auth" -d 'Log in with an API key, check it, or log out'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "history" -d 'List the uploads made from this machine'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "serve" -d 'Run a file.io-compatible server: self-host, try the client offline, test against it'
complete -c fileio -n "__fish_fileio_needs_command" -f -a "completions" -d 'Print the completion script for bash, zsh, fish, PowerShell or elvish'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l expires -d 'When the file expires: a period (30m, 12h, 7d, 2w, 6M, 1y) or an ISO 8601 date' -r
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l max-downloads -d 'How many downloads the link allows before the file is gone' -r
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l name -d 'Name the upload on the server; one file only (standard input is otherwise "stdin-<UTC time>", e.g. stdin-20261123-063000)' -r
complete -c fileio -n "__fish_fileio_using_subcommand upload" -s j -l jobs -d 'How many files (or FileShot chunks) to upload at once [default: 4]' -r
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l to -d 'Encrypt to this public key instead (age1…, ssh-ed25519 or ssh-rsa; repeatable): no secret in the link, and the recipient decrypts with --identity or `age -d -i`' -r
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l to-file -d 'Encrypt to the public keys in this file, one per line, as age\'s -R reads them (repeatable)' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l resumable-above -d 'Send files larger than SIZE resumably where the server offers it (tus, as `fileio serve` does): a dropped connection, or the same command run again after an interruption, sends only the rest. `0`: every file; `never`: none, and no stream either. Standard input and folders resume within the run only, from the last 32 MiB kept in memory; encrypted files go in one POST [default: 64MiB]' -r
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l no-auto-delete -d 'Keep the file (listed, revivable by `update`) after its last download or expiry'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l secret -d 'Ask for a hard-to-guess URL (0x0)'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l qr -d 'Also draw each link as a QR code on stderr, for a phone\'s camera (only when stderr is a terminal)'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l encrypt -d 'Encrypt end to end (age): the link printed carries the key in its #fragment, which is never sent to a server; the service stores only ciphertext under a neutral name. Decrypt with `fileio download LINK`, or with stock age (see the README)'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l no-encrypt -d 'Do not encrypt, even when the config file says `encrypt = true`'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand upload" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand download" -s o -l output -d 'Where to save: a file, a directory (ending in / or existing), or - for standard output. An existing FIFO or character device (/dev/null, /dev/stdout, a terminal) is written to as it is; a symbolic link is followed to what it points to [default: the current directory, under the server\'s file name]' -r
complete -c fileio -n "__fish_fileio_using_subcommand download" -s i -l identity -d 'Decrypt with this age identity file or SSH private key, as `age -i` takes them (for files encrypted to a public key with `upload --to`). A link from `upload --encrypt` carries its key in its #fragment and needs none. An encrypted download that does not verify to its very end is refused (exit 10) and nothing is saved; with `-o -` the bytes already written stand, so a pipe trusts the stream only once fileio exits 0' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand download" -s x -l extract -d 'Unpack a .tar.gz (a folder `upload` sent) into DIR [default: the current directory] as it downloads, decrypting first when encrypted. Entries that would land outside DIR (absolute, `..`, links pointing out) refuse the archive; nothing is overwritten without --force, and a failure leaves nothing half-extracted in sight' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand download" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand download" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand download" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand download" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand download" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand download" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand download" -s f -l force -d 'Overwrite an existing file. Only a regular file is ever replaced, and only by the finished download: given a symbolic link, the file it points to is replaced and the link stays (a link to nothing is refused); a block device is written onto, never replaced. A name the server chose never follows a link'
complete -c fileio -n "__fish_fileio_using_subcommand download" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand download" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand download" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand download" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand download" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand download" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand download" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand list" -l search -d 'Show only the files whose name contains TEXT' -r
complete -c fileio -n "__fish_fileio_using_subcommand list" -l sort -d 'Sort by this field: name, size, expires or created (services other than fileio: sorted here, over the files listed)' -r -f -a "name\t''
size\t''
expires\t''
created\t''"
complete -c fileio -n "__fish_fileio_using_subcommand list" -l offset -d 'Skip the first N files' -r
complete -c fileio -n "__fish_fileio_using_subcommand list" -l limit -d 'Show at most N files' -r
complete -c fileio -n "__fish_fileio_using_subcommand list" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand list" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand list" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand list" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand list" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand list" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand list" -l all -d 'List every file, fetching as many pages as it takes'
complete -c fileio -n "__fish_fileio_using_subcommand list" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand list" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand list" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand list" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand list" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand list" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand list" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand me" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand me" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand me" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand me" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand me" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand me" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand me" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand me" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand me" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand me" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand me" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand me" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand me" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand update" -l expires -d 'New expiry: a period (30m, 12h, 7d, 2w, 6M, 1y) or an ISO 8601 date' -r
complete -c fileio -n "__fish_fileio_using_subcommand update" -l max-downloads -d 'New number of downloads allowed' -r
complete -c fileio -n "__fish_fileio_using_subcommand update" -l auto-delete -d 'Whether the file is deleted after its last download or expiry (true or false)' -r -f -a "true\t''
false\t''"
complete -c fileio -n "__fish_fileio_using_subcommand update" -l file -d 'Upload PATH as the file\'s new contents, under the same key' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand update" -l name -d 'Rename the file (fii.one)' -r
complete -c fileio -n "__fish_fileio_using_subcommand update" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand update" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand update" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand update" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand update" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand update" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand update" -l replace-all -d 'Replace everything (PUT): what is not given returns to its default; needs --file'
complete -c fileio -n "__fish_fileio_using_subcommand update" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand update" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand update" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand update" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand update" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand update" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand update" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand delete" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand delete" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand delete" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand delete" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand delete" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand delete" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand delete" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand delete" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand delete" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand delete" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand delete" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand delete" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand delete" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand info" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand info" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand info" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand info" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand info" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand info" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand info" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand info" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand info" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand info" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand info" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand info" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand info" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand services" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand services" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand services" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand services" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand services" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand services" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand services" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand services" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand services" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand services" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand services" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand services" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand services" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -f -a "login" -d 'Store an API key for the service and server, after checking it works'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -f -a "status" -d 'Say where the key in use comes from and which account it is (never the key)'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and not __fish_seen_subcommand_from login status logout" -f -a "logout" -d 'Remove the stored key for the service and server'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l with-token -d 'Read the key from standard input (for scripts) instead of prompting'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l insecure-storage -d 'Store the key in a 0600 file in the config directory instead of the OS keyring'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from login" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand auth; and __fish_seen_subcommand_from logout" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand history" -l rm -d 'Forget the upload with this key (the file stays on the service)' -r
complete -c fileio -n "__fish_fileio_using_subcommand history" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand history" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand history" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand history" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand history" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand history" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand history" -l all -d 'Include expired uploads'
complete -c fileio -n "__fish_fileio_using_subcommand history" -l clear -d 'Forget every upload (the files stay on the service)'
complete -c fileio -n "__fish_fileio_using_subcommand history" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand history" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand history" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand history" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand history" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand history" -s h -l help -d 'Print help'
complete -c fileio -n "__fish_fileio_using_subcommand history" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l bind -d 'Address to listen on; port 0 picks a free port (the banner on stderr shows the real one)' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l data -d 'Directory for the database and, without --storage, the stored files [default: <user data dir>/fileio/server]' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l storage -d 'Keep the files in an S3-compatible object store (AWS S3, MinIO, Garage, Ceph, R2…) under s3://BUCKET/PREFIX instead of under --data (which keeps the database). Credentials come from the standard AWS_* variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN…), never from flags [default: --data]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l s3-endpoint -d 'The object store\'s URL, e.g. http://127.0.0.1:9000 for MinIO [default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l s3-region -d 'The object store\'s region [default: AWS_REGION or AWS_DEFAULT_REGION, else us-east-1]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l s3-upload-lease -d 'Seconds an upload\'s lease in the object store lasts unless renewed; at start, pending multipart uploads whose lease ran out are aborted (for tests)' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l api-key -d 'Accept this API key (repeatable); keys are also read from FILEIO_SERVE_API_KEYS (comma-separated), which keeps them out of the process list' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l api-keys-file -d 'Accept the API keys listed in FILE, one per line (`#` comments and blank lines ignored)' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l max-size -d 'Refuse uploads larger than SIZE (e.g. 100MB, 2GiB) with 413 [default: unlimited]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l max-storage -d 'Limit the bytes stored per API key (anonymous uploads share one allowance) [default: unlimited]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l max-expiry -d 'Refuse expiries further away than PERIOD (e.g. 30d, 1y); the default of 14 days is shortened to it [default: unlimited]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l rate-limit -d 'Allow each client address N requests per window, e.g. 60/min, 5/s, 1000/h; the browser pages\' assets are counted apart, up to 10×N (at least 100) [default: unlimited]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l public-url -d 'Base URL for the links in answers when behind a reverse proxy, e.g. https://files.example.com [default: http://<Host header>]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l require-auth -d 'Refuse uploads without an API key, downloads staying open to anyone with the link (`--require-auth`, or `=uploads`); or refuse every request without one, downloads included (`--require-auth=all`). Listing and managing files always need a key' -r -f -a "uploads\t'uploads need a key, downloads stay open'
all\t'every request needs a key, downloads included'"
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l header-timeout -d 'Close a connection whose request head (the first, or the next one on a kept-alive connection) has not arrived in full after SECS seconds' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l body-timeout -d 'Abandon a request whose body sends nothing for SECS seconds (its partial upload is removed)' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l send-timeout -d 'Drop a download whose client accepts no bytes for SECS seconds; a one-time file it held becomes downloadable again' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l max-connections -d 'Serve at most N connections at once; more wait to be accepted. Kept below the open-file limit, which is raised to its hard maximum at start' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l database -d 'Keep the metadata in this PostgreSQL database instead of SQLite in --data, so that several instances can share it, e.g. postgres://fileio@db.example/fileio. Give a password through FILEIO_DATABASE_URL, not this flag (other users can see a command\'s arguments). The files stay in --data (or --storage), which the instances must share' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l tus-expiry -d 'Hours a resumable (tus) upload is kept after it starts: an unfinished one is then deleted with its bytes, a finished one\'s upload URL stops answering (at most 168)' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l sweep-interval -d 'Seconds between sweeps that delete expired files (for tests)' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l lease -d 'Seconds a download\'s lease lasts unless renewed: how soon a download held by a killed instance counts again (for tests)' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l staging-lease -d 'With --database and the files under --data: seconds a partial upload\'s file in tmp/ stays unchanged before a sweep removes it as a killed instance\'s (for tests)' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l no-web -d 'Serve no browser pages: `/` and `/{key}` answer every client as the API does (JSON and the file\'s bytes)'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and not __fish_seen_subcommand_from migrate" -f -a "migrate" -d 'Move a single-machine server\'s files and metadata to PostgreSQL, an S3-compatible object store, or both'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l from -d 'The data directory of the server to move (its --data)' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l database -d 'The PostgreSQL database to move the metadata into [default: keep SQLite in DIR]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l storage -d 'The object store to move the files into, as s3://BUCKET/PREFIX; credentials from the AWS_* variables [default: keep the files in DIR]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l s3-endpoint -d 'The object store\'s URL [default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l s3-region -d 'The object store\'s region [default: AWS_REGION or AWS_DEFAULT_REGION, else us-east-1]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l merge -d 'Add the files to a database or bucket that already holds other files'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fileio -n "__fish_fileio_using_subcommand serve; and __fish_seen_subcommand_from migrate" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand completions" -l service -d 'Service to talk to: fileio (the default: file.io and compatible servers), fileshot, fiione, filepost or 0x0; `fileio services` says what each can do' -r -f -a "fileio\t''
fileshot\t''
fiione\t''
filepost\t''
0x0\t''"
complete -c fileio -n "__fish_fileio_using_subcommand completions" -l server -d 'Talk to the server at this base URL instead of the service\'s own, e.g. http://127.0.0.1:8080 for `fileio serve`' -r
complete -c fileio -n "__fish_fileio_using_subcommand completions" -l timeout -d 'Give up on a request that makes no progress for this many seconds [default: 30]' -r
complete -c fileio -n "__fish_fileio_using_subcommand completions" -l retries -d 'Retry transient failures (connect errors, 429, 502, 503, 504) up to N times; an upload is sent again only after a connect error or a 429 or 503, so it is never stored twice [default: 3]' -r
complete -c fileio -n "__fish_fileio_using_subcommand completions" -l api-key-file -d 'Read the API key from the first line of this file (e.g. a CI secret file); beats FILEIO_API_KEY and the keyring' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand completions" -l config -d 'Read settings from this TOML file instead of config.toml in the user\'s config directory' -r -F
complete -c fileio -n "__fish_fileio_using_subcommand completions" -l json -d 'Print results as JSON on standard output, one value per line: upload and update an object per file, delete an object per key, list, history and services one array, info, me and auth status one object (download prints the saved path either way)'
complete -c fileio -n "__fish_fileio_using_subcommand completions" -s q -l quiet -d 'Print only the result: no summary, hints or progress'
complete -c fileio -n "__fish_fileio_using_subcommand completions" -s v -l verbose -d 'Log requests and responses on stderr, secrets redacted'
complete -c fileio -n "__fish_fileio_using_subcommand completions" -l no-progress -d 'Never draw progress bars'
complete -c fileio -n "__fish_fileio_using_subcommand completions" -l no-history -d 'Do not record uploads in the local history'
complete -c fileio -n "__fish_fileio_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fileio -n "__fish_fileio_using_subcommand completions" -s V -l version -d 'Print version'
complete -c fileio -n "__fish_fileio_using_subcommand completions; and not __fish_seen_subcommand_from bash elvish fish powershell zsh" -f -a "bash elvish fish powershell zsh"
