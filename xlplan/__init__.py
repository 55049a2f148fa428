"""xlplan: issue locked action-plan workbooks to services, validate returns, merge them."""

__version__ = "0.1.0"

# The version of the hidden metadata xlplan writes into every workbook. A reader accepts
# its own version and older ones it knows; bump it when the metadata's meaning changes.
FORMAT_VERSION = 1
