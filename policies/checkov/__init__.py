"""Custom checkov policies, loaded by `checkov --external-checks-dir policies/checkov`.

Checkov runs in its own environment (tools/lint) and imports every module here by its file name, so
every file carries the `acme_` prefix: a bare name could shadow a library module. Nothing outside
checkov imports these modules.
"""
