"""A learner's session in JupyterLab, in Debian's Chromium driven by Selenium.

    browser_lab.py BASE_URL TOKEN NOTEBOOK SCREENSHOT_DIR CODE_CELLS

Opens NOTEBOOK (a lesson with five cells appended by the test: a live figure, a tensor, a passing check, an
endless loop and a cell that reads an earlier variable) as a learner would, runs every cell from the Run menu, and
asserts from the page what a learner would see. Prints one JSON object of what it saw and how long it took;
exits non-zero (with the reason on stderr) at the first thing that is wrong.
"""

import json
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

BASE, TOKEN, NOTEBOOK, SHOTS = sys.argv[1:5]
# How many code cells the notebook has. JupyterLab adds cells to the page a few at a time while it is idle (its
# windowed notebook), so on a busy machine the first output can come before the last cells are there.
CODE_CELLS = int(sys.argv[5])
# The cells the test appended, counted from the end of the notebook.
APPENDED = 5
# Generous: cells compile on a 2-core machine that runs other tests at the same time.
CELL_WAIT = 300


class Failure(Exception):
    pass


def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"]:
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait_for(what, seconds, probe):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            found = probe()
        except WebDriverException:
            found = None
        if found:
            return found
        time.sleep(0.25)
    raise Failure(f"timed out after {seconds} s waiting for {what}")


# A figure as JupyterLab renders it: SVG as an image (or inline), PNG as an image.
FIGURE = ".jp-RenderedSVG img, .jp-RenderedSVG svg, .jp-RenderedImage img"

# The notebook on show (JupyterLab keeps other open notebooks in the page, hidden).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def code_cells(page):
    return page.find_elements(By.CSS_SELECTOR, f"{PANEL} .jp-CodeCell")


def prompt(cell):
    """The cell's execution prompt: '[3]:', '[*]:' while it runs, '[ ]:' before."""
    return cell.find_element(By.CSS_SELECTOR, ".jp-InputPrompt").text.strip()


def ran(cell):
    text = prompt(cell)
    return text.startswith("[") and text[1:-2].strip().isdigit()


def outputs(cell):
    return cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output")


def errors(cell):
    """Error outputs. JupyterLab renders an error like text on stderr; candlelit's traceback starts with the
    error's name in red, which a cell's own stderr text does not. (The test also reads the saved notebook.)"""
    return [o for o in outputs(cell) if o.get_attribute("data-mime-type") == "application/vnd.jupyter.stderr"
            and o.find_elements(By.CSS_SELECTOR, "pre > span.ansi-red-fg:first-child")]


def menu(page, top, item):
    """Clicks menu `top`, then its entry `item`."""
    page.find_element(By.XPATH, f"//div[contains(@class,'lm-MenuBar-itemLabel') and text()='{top}']").click()
    entry = wait_for(f"the menu entry {item}", 10, lambda: [
        e for e in page.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel") if e.text.strip() == item])
    entry[0].click()


def kernel_idle(page):
    indicator = page.find_elements(By.CSS_SELECTOR, f"{PANEL} .jp-Notebook-ExecutionIndicator")
    return indicator and indicator[0].get_attribute("data-status") == "idle"


def shot(page, name):
    # JupyterLab's news prompt for a new user, answered as a learner would, so that it hides nothing.
    for no in page.find_elements(By.XPATH, "//div[contains(@class,'jp-Notification')]//button[normalize-space()='No']"):
        try:
            no.click()
        except WebDriverException:
            pass
    page.save_screenshot(f"{SHOTS}/{name}.png")


def run_cell(page, cell):
    cell.find_element(By.CSS_SELECTOR, ".jp-InputPrompt").click()
    page.switch_to.active_element.send_keys(Keys.SHIFT, Keys.ENTER)


def main():
    seen = {}
    page = browser()
    try:
        opened = time.time()
        page.get(f"{BASE}/lab/tree/{NOTEBOOK}?token={TOKEN}")
        wait_for("the notebook's cells", 120, lambda: code_cells(page))
        wait_for("the kernel to be idle", 300, lambda: kernel_idle(page))
        seen["open_to_kernel_idle_s"] = round(time.time() - opened, 1)
        shot(page, "1-opened")

        menu(page, "Run", "Run All Cells")
        asked = time.time()
        wait_for("the first output", CELL_WAIT,
                 lambda: any(outputs(c) for c in code_cells(page)))
        seen["open_to_first_output_s"] = round(time.time() - opened, 1)
        cells = wait_for(f"all {CODE_CELLS} code cells on the page", CELL_WAIT,
                         lambda: len(code_cells(page)) == CODE_CELLS and code_cells(page))
        lesson, (live, tensor, passing, endless, after) = cells[:-APPENDED], cells[-APPENDED:]
        wait_for("every lesson cell and the live figure to run", 30 * CELL_WAIT,
                 lambda: all(ran(c) for c in lesson + [live, tensor, passing]))
        seen["open_to_all_cells_done_s"] = round(time.time() - opened, 1)
        seen["run_all_to_done_s"] = round(time.time() - asked, 1)
        seen["code_cells"] = len(lesson)

        failed = [prompt(c) + " " + o.text[:300] for c in lesson + [live, tensor, passing] for o in errors(c)]
        if failed:
            raise Failure(f"error outputs in the lesson: {failed}")
        figures = page.find_elements(By.CSS_SELECTOR, f"{PANEL} {FIGURE.replace(', ', f', {PANEL} ')}")
        tables = page.find_elements(By.CSS_SELECTOR, f"{PANEL} .jp-RenderedHTMLCommon table")
        text = page.find_element(By.CSS_SELECTOR, f"{PANEL} .jp-Notebook").text
        seen.update(figures=len(figures), tables=len(tables), verdicts_failed=text.count("✘"),
                    verdicts_passed=text.count("✔"))
        if len(figures) < 5 or not tables or "✘" not in text or "✔" not in text:
            raise Failure(f"figures, tables or verdicts missing from the page: {seen}")
        live_images = live.find_elements(By.CSS_SELECTOR, FIGURE)
        seen["live_figure_images"] = len(live_images)
        # The image's SVG (its `src` as a data URL, or the element itself) has the title of the last update.
        drawn = [urllib.parse.unquote(i.get_attribute("src") or i.get_attribute("outerHTML")) for i in live_images]
        if len(live_images) != 1 or "step 4" not in drawn[0]:
            raise Failure(f"the live figure is not one image showing its last update: {len(live_images)} images, "
                          f"{[d[:200] for d in drawn]}")
        page.execute_script("arguments[0].scrollIntoView()", live)
        shot(page, "2-all-cells-ran")

        # The endless loop runs; the interrupt button stops it, and the next cell still sees an earlier variable.
        wait_for("the endless loop to start", CELL_WAIT, lambda: "spinning" in endless.text)
        page.find_element(By.CSS_SELECTOR, f"{PANEL} [data-command='notebook:interrupt-kernel']").click()
        wait_for("the loop to stop", 60, lambda: ran(endless) and "KeyboardInterrupt" in endless.text)
        wait_for("the kernel to be idle after the interrupt", 60, lambda: kernel_idle(page))
        run_cell(page, after)
        wait_for("the cell after the interrupt", CELL_WAIT, lambda: "still here: 0.5" in after.text)
        page.execute_script("arguments[0].scrollIntoView()", endless)
        shot(page, "3-interrupted")

        # Restart gives a working kernel: run the parameters cell, then the cell that reads it.
        # Saved first: the test reads the outputs JupyterLab keeps, as a learner's file would have them.
        page.find_element(By.CSS_SELECTOR, f"{PANEL} .jp-NotebookPanel-notebook").click()
        menu(page, "File", "Save Notebook")
        wait_for("the notebook to be saved", 30, lambda: not page.find_elements(
            By.CSS_SELECTOR, ".jp-mod-dirty.jp-DocumentWidget:not(.lm-mod-hidden), .lm-TabBar-tab.jp-mod-current.jp-mod-dirty"))
        menu(page, "Kernel", "Restart Kernel…")
        wait_for("the restart dialog", 10, lambda: page.find_elements(By.CSS_SELECTOR, ".jp-Dialog-button.jp-mod-accept"))
        page.find_element(By.CSS_SELECTOR, ".jp-Dialog-button.jp-mod-accept").click()
        restarted = time.time()
        wait_for("the restarted kernel to be idle", 300, lambda: kernel_idle(page) and not page.find_elements(
            By.CSS_SELECTOR, ".jp-Dialog"))
        first = code_cells(page)[0]
        run_cell(page, first)
        wait_for("the first cell to run in the new kernel", CELL_WAIT, lambda: prompt(first) == "[1]:")
        run_cell(page, after)
        wait_for("the cell after the restart", CELL_WAIT, lambda: prompt(after) == "[2]:" and "still here: 0.5" in after.text)
        seen["restart_to_first_cell_s"] = round(time.time() - restarted, 1)
        shot(page, "4-restarted")
        print(json.dumps(seen))
    except Failure as failure:
        shot(page, "failure")
        with open(f"{SHOTS}/failure.html", "w") as page_html:
            page_html.write(page.page_source)
        print(f"browser test: {failure}", file=sys.stderr)
        print(json.dumps(seen))
        sys.exit(1)
    finally:
        page.quit()


if __name__ == "__main__":
    main()
