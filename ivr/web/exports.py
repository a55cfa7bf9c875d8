"""CSV and Excel (XLSX) downloads of table rows.

Cells that a spreadsheet would run as a formula (text starting with =, @, a tab
or a carriage return, or + or - followed by anything but a number) get a
leading apostrophe, so an exported caller name cannot run code in Excel.
Phone numbers like +79161234567 are left as they are.
"""

import csv
import io
import re

from flask import Response
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

_NUMBER_LIKE = re.compile(r"^[+-][\d\s()\-]*$")


def safe_cell(value):
    if not isinstance(value, str) or not value:
        return value
    if value[0] in "=@\t\r" or (value[0] in "+-" and not _NUMBER_LIKE.match(value)):
        return "'" + value
    return value


def csv_response(filename, headers, rows):
    """Return a UTF-8 CSV download (with a byte order mark, which Excel needs for Cyrillic)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return Response(buffer.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def xlsx_response(filename, title, headers, rows):
    """Return an Excel workbook download with one sheet named `title`."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    sheet.append(headers)
    for row in rows:
        sheet.append([safe_cell(value) for value in row])
    for index, header in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(str(header)) + 2)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Response(buffer.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
