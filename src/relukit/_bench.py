print('bench todo')
def main(quick=False): pass
